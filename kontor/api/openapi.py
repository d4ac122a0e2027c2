"""The OpenAPI document as the API really answers, corrected in one place after ninja builds it:

- every error (4xx, 5xx) is sent as `application/problem+json` (kontor.core.problems), not the
  `application/json` ninja declares for any response schema;
- the CSV exports (paths ending in `.csv`) answer `text/csv`, a string, not JSON;
- an operation that takes a body can answer 413 `payload_too_large` (DATA_UPLOAD_MAX_MEMORY_SIZE);
- any operation can answer 503 when the database keeps refusing its transaction (api.core, core.retry);
- a response given both by `response={200: …}` and by `openapi_extra` (int and string key) is one
  entry, not two `"200"` keys that YAML and the docs page refuse as a duplicated mapping key."""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class KontorAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if isinstance(operation, dict) and "responses" in operation:
                    operation["responses"] = _honest_responses(path, operation)
        return schema


def _honest_responses(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, dict[str, Any]] = {}
    for status, response in operation["responses"].items():
        # openapi_extra's entries come after ninja's, so they win where both say the same thing
        merged[str(status)] = {**merged.get(str(status), {}), **response}
    for status, response in merged.items():
        content = response.get("content")
        if status[:1] in ("4", "5") and content and "application/json" in content:
            content[PROBLEM] = content.pop("application/json")
    if path.endswith(".csv") and "200" in merged:
        merged["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
    if "503" not in merged:
        merged["503"] = {
            "description": "Busy (`busy`: the database kept refusing the transaction, nothing was written; retry "
            "after Retry-After seconds) or, for a send, `not_confirmed` (it may yet be written).",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "required": False}},
            "content": {PROBLEM: {"schema": PROBLEM_REF}},
        }
    if "requestBody" in operation and "413" not in merged:
        merged["413"] = {
            "description": "The body is larger than the server accepts.",
            "content": {PROBLEM: {"schema": PROBLEM_REF}},
        }
    return dict(sorted(merged.items()))
