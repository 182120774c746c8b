"""Validating a batch that integrations send: all of it, before any of it is
written, with an error per item and field (docs/api.md).

A value that breaks a physical limit of the model is refused here with the same
bounds the database enforces (the constants live beside the constraints), so
the whole batch is refused, never half-written. Every number must be finite; the
services add the bounds that depend on the row (what is plausible at a
substation, for an asset: `grid.services.reading_check`,
`assets.services.telemetry_check`). A timestamp is at most INGEST_MAX_AGE_S old
and not ahead of our clock (`Checker.within`); two items with one natural key
(sensor and time, ...) must agree (`Checker.distinct`).
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

MAX_ITEMS = 10_000
# Clocks drift: a timestamp this far ahead of ours is still accepted.
FUTURE_TOLERANCE = timedelta(minutes=5)
# How old data may be (settings.INGEST_MAX_AGE_S): an integration sends what it
# measured a moment ago, or replays a few days after an outage; year 1 or 1900 is
# a clock reset or a unit mistake (seconds for milliseconds), and stored it would
# sit in every history, report and accuracy figure. A backfill raises the setting.
DEFAULT_MAX_AGE_S = 7 * 86400


def ingest_max_age() -> timedelta:
    """The oldest an ingested timestamp may be (INGEST_MAX_AGE_S, read now)."""
    seconds = getattr(settings, "INGEST_MAX_AGE_S", DEFAULT_MAX_AGE_S)
    try:
        return timedelta(seconds=seconds)
    except OverflowError:  # a bound beyond any date: no bound
        return timedelta.max


def duration(age: timedelta) -> str:
    """'7 days', '1 hour', '90 s': a bound as an error message says it."""
    seconds = age.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds / size
            return f"{count:g} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} s"


class BatchInvalid(Exception):
    """The batch is refused whole; `errors` maps item index to field errors."""

    def __init__(self, errors: dict[int, dict[str, str]] | str):
        super().__init__("invalid batch")
        self.errors = errors


class Checker:
    """Collects every error of every item instead of stopping at the first."""

    def __init__(self, now: datetime, *, max_age: timedelta | None = None):
        self.now = now
        self.max_age = ingest_max_age() if max_age is None else max_age
        try:
            self.oldest = now - self.max_age
        except OverflowError:
            self.oldest = datetime.min.replace(tzinfo=UTC)
        self.errors: dict[int, dict[str, str]] = {}
        self.index = 0
        # distinct(): each key seen so far, with the first item and its values.
        self.seen: dict[Hashable, tuple[int, Mapping[str, Any]]] = {}

    def fail(self, field: str, message: str) -> None:
        self.errors.setdefault(self.index, {})[field] = message

    def number(
        self,
        item: Mapping[str, Any],
        field: str,
        *,
        low: float | None = None,
        high: float | None = None,
        required: bool = True,
        why: str = "",
    ) -> float | None:
        """The item's finite number in [low, high] (`why` says where the bounds
        come from, in the error), or None with an error recorded. -0.0 comes
        back as 0.0, so a signed zero goes no further than here."""
        value = item.get(field)
        if type(value) is not float:  # JSON's integers, and what is no number
            if value is None:
                if required:
                    self.fail(field, "This field is required.")
                return None
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail(field, f"A number is required, not {reprlib.repr(value)}.")
                return None
            try:
                value = float(value)
            except OverflowError:  # an integer too large for a float
                value = math.inf
        value += 0.0  # -0.0 + 0.0 is 0.0
        if not math.isfinite(value):
            self.fail(field, f"A finite number is required, not {value}.")
        elif (low is not None and value < low) or (high is not None and value > high):
            self.fail(field, f"{value:g} is out of range: {bounds(low, high, why)}.")
        return value

    def moment(self, item: dict, field: str) -> datetime | None:
        """An ISO 8601 timestamp with its UTC offset, within the ingest's window
        (`within`: neither ahead of our clock nor older than the bound)."""
        value = item.get(field)
        if not isinstance(value, str):
            self.fail(field, "An ISO 8601 timestamp is required.")
            return None
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            self.fail(field, f"{value!r} is not an ISO 8601 timestamp.")
            return None
        if at.tzinfo is None:
            self.fail(field, "The timestamp needs its UTC offset (e.g. Z or +00:00).")
            return None
        try:
            # In UTC: PostgreSQL refuses an offset beyond 15:59 in text (arrays,
            # COPY), and SQLite's adapter overflows near year 1.
            at = at.astimezone(UTC)
        except OverflowError:
            self.fail(field, f"{value!r} is out of range.")
            return None
        self.within(field, at)
        return at

    def within(self, field: str, at: datetime, *, ahead: bool = False) -> None:
        """Record an error unless `at` is at most the ingest's bound old
        (INGEST_MAX_AGE_S) and, unless it may be `ahead` (a forecast's valid
        time), at most FUTURE_TOLERANCE ahead of our clock."""
        if at < self.oldest:
            self.fail(
                field,
                f"{at.isoformat()} is older than {duration(self.max_age)} "
                f"(INGEST_MAX_AGE_S = {self.max_age.total_seconds():g} s): a clock "
                "or unit mistake; a backfill needs a higher setting.",
            )
        elif not ahead and at > self.now + FUTURE_TOLERANCE:
            self.fail(field, "The timestamp is in the future.")

    def distinct(
        self, row: Mapping[str, Any], *, key: Sequence[str], what: str
    ) -> None:
        """Record this item's `row`; an earlier item with the same `key` (its
        natural key: sensor and time, ...) and other values is a conflict, and
        both items get an error on the key's last field naming the other: which
        of the two is true cannot be told. The same values again are a retry
        inside the batch, accepted (stored once). `what` names the key."""
        ident = tuple(row[name] for name in key)
        if any(part is None for part in ident):
            return  # already an error of its own
        first, values = self.seen.setdefault(ident, (self.index, row))
        if first == self.index or values == row:
            return
        field, why = key[-1], f"the same {what} with other values."
        self.errors.setdefault(self.index, {}).setdefault(
            field, f"Conflicts with item {first}: {why}"
        )
        self.errors.setdefault(first, {}).setdefault(
            field, f"Conflicts with item {self.index}: {why}"
        )

    def known(self, item: dict, field: str, ids: dict[str, int]) -> int | None:
        value = item.get(field)
        if not isinstance(value, str) or value not in ids:
            self.fail(field, f"Unknown {field}: {value!r}.")
            return None
        return ids[value]

    def done(self) -> None:
        if self.errors:
            raise BatchInvalid(self.errors)


def bounds(low: float | None, high: float | None, why: str) -> str:
    """'must be between 0 and 10 (why)', for an error message."""
    if low is not None and high is not None:
        rule = f"between {low:g} and {high:g}"
    else:
        rule = f">= {low:g}" if low is not None else f"<= {high:g}"
    return f"must be {rule} ({why})" if why else f"must be {rule}"


def lookup_keys(items: list[dict], field: str) -> list[str]:
    """The items' string values of `field` that can be looked up: no key holds a
    NUL character, and PostgreSQL refuses one in a query (a 500)."""
    return [
        value
        for item in items
        if isinstance(value := item.get(field), str) and "\x00" not in value
    ]


def as_items(data: Any) -> list[dict]:
    """One object or a list of up to MAX_ITEMS objects, as a list."""
    items = data if isinstance(data, list) else [data]
    if not items:
        raise BatchInvalid("The batch is empty.")
    if len(items) > MAX_ITEMS:
        raise BatchInvalid(f"At most {MAX_ITEMS:,} items per request.")
    if not all(isinstance(item, dict) for item in items):
        raise BatchInvalid("Each item must be a JSON object.")
    return items
