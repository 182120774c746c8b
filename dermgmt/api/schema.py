"""The errors every operation may answer, documented once in the schema.

drf-spectacular documents what each view declares (its 200/201, an ingest's
400), not what DRF and django-filter answer around it: 401/403 for credentials
and scopes, 404 for an unknown key or page, 400 for a filter's invalid value,
415 for a body of another media type, 429 when throttled. Without them a client
generated from the schema cannot read our errors (tests/test_api_schema.py).
"""

from __future__ import annotations

DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
FIELD_ERRORS = {
    "type": "object",
    "description": "Query parameter -> why its value was refused.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}
NOT_FILTERS = {"page", "page_size", "cursor", "ordering"}


def _response(description: str, component: str) -> dict:
    schema = {"$ref": f"#/components/schemas/{component}"}
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def error_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS entry: add the errors each operation may answer."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorDetail", DETAIL)
    schemas.setdefault("FieldErrors", FIELD_ERRORS)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            query = {p["name"] for p in parameters if p.get("in") == "query"}
            errors = {
                "401": _response("No or invalid credentials.", "ErrorDetail"),
                "403": _response("The role or token does not allow it.", "ErrorDetail"),
            }
            if any(p.get("in") == "path" for p in parameters) or query & {
                "page",
                "cursor",
            }:
                errors["404"] = _response("No such object, or page.", "ErrorDetail")
            if method == "get" and query - NOT_FILTERS:
                errors["400"] = _response("A filter's value is invalid.", "FieldErrors")
            if "requestBody" in operation:
                errors["415"] = _response(
                    "A body of another media type.", "ErrorDetail"
                )
            if method == "post":
                errors["429"] = _response("Throttled: retry later.", "ErrorDetail")
            responses = operation.setdefault("responses", {})
            for code, response in errors.items():
                responses.setdefault(code, response)
    return result
