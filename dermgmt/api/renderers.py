"""JSON without NaN or Infinity: RFC 8259 has neither, and a browser's or an
integration's parser refuses a document that holds one (docs/api.md).

Ingest refuses non-finite and implausible numbers, so none should be stored; a
row from before those bounds, or a sum that overflows, must still not fail a
whole page. The rule: a number that is not finite goes out as null, the value
JSON has for "no trustworthy figure", and the API logs it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from rest_framework.renderers import JSONRenderer

logger = logging.getLogger(__name__)


def finite(data: Any) -> Any:
    """`data` (dicts, lists, tuples, scalars) with NaN and ±inf as None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


class FiniteJSONRenderer(JSONRenderer):
    """DRF's strict JSON (STRICT_JSON, on by default) answers a non-finite float
    with a ValueError, a 500 for the whole list: write it as null instead. The
    walk through the data costs nothing on the usual path (a first try)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except ValueError as error:
            if "Out of range float" not in str(error):
                raise
            request = (renderer_context or {}).get("request")
            logger.warning(
                "non-finite number in %s: written as null",
                request.get_full_path() if request else "a response",
            )
            return super().render(finite(data), accepted_media_type, renderer_context)
