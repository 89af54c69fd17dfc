"""Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources`` (docs/azure-facts.md 3.1-3.3).

Request ``{"query", "subscriptions"?, "managementGroups"?, "options": {"$top", "$skip", "$skipToken",
"resultFormat"}}``; response ``{"totalRecords", "count", "resultTruncated": "true"|"false", "$skipToken"?,
"data", "facets": []}``. ``data`` is a row array (objectArray, default) or ``{"columns", "rows"}`` (table).
``$skipToken`` is opaque base64 of the offset and a digest of the query; it is only present when more rows
remain. Every answer carries ``x-ms-user-quota-remaining`` / ``x-ms-user-quota-resets-after``; over the
per-user quota the captured 429 ``RateLimiting`` body is returned.

Note [C]: real SpotResources returns no rows when ``subscriptions`` is given (grafana #103702); the emulator
ignores ``subscriptions`` and answers at tenant scope (documented, not modelled).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from emulator import kql
from emulator.errors import ArmError, _hms, resource_graph_throttled
from emulator.models.spot_resources import spot_resources_of
from emulator.state import EmulatorState
from emulator.wire import ApiRequest, ApiResponse

API_VERSIONS = frozenset({"2019-04-01", "2020-04-01-preview", "2021-03-01", "2022-10-01", "2024-04-01"})
MAX_TOP = 1000
_cache_lock = threading.Lock()
_results: OrderedDict[tuple[int, str], list[dict[str, Any]]] = OrderedDict()


def _bad_request(message: str, detail_code: str = "InvalidQuery") -> ArmError:
    return ArmError(400, "BadRequest", "Please provide below info when asking for support: "
                                       "the query is invalid.",
                    details=[{"code": detail_code, "message": message}])


def _query_digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]


def encode_skip_token(offset: int, query: str) -> str:
    return base64.b64encode(json.dumps({"$id": "1", "MaxRows": MAX_TOP, "RowsToSkip": offset,
                                        "q": _query_digest(query)}).encode()).decode()


def decode_skip_token(token: str, query: str) -> int:
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        offset = int(data["RowsToSkip"])
        same_query = data["q"] == _query_digest(query)
    except (ValueError, KeyError, TypeError):
        raise _bad_request(f"The skip token '{token[:40]}' is invalid.", "InvalidSkipToken") from None
    if not same_query or offset < 0:
        raise _bad_request("The skip token does not belong to this query.", "InvalidSkipToken")
    return offset


def _evaluate(state: EmulatorState, query_text: str) -> tuple[list[dict[str, Any]], bool]:
    try:
        query = kql.parse(query_text)
    except kql.KqlError as exc:
        raise _bad_request(str(exc)) from None
    key = (id(state.catalog), query_text)
    with _cache_lock:
        cached = _results.get(key)
    if cached is None:
        cached = kql.run(query, spot_resources_of(state.catalog))
        with _cache_lock:
            _results[key] = cached
            while len(_results) > 32:
                _results.popitem(last=False)
    return cached, query.truncating


def handle(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    api_version = request.arg("api-version")
    if api_version not in API_VERSIONS:
        raise ArmError(400, "InvalidApiVersionParameter",
                       f"The api-version '{api_version}' is invalid. The supported versions are "
                       f"'{', '.join(sorted(API_VERSIONS))}'.")
    allowed, remaining, resets = state.arg_throttle.consume(request.params.get("user", ""))
    if not allowed:
        raise resource_graph_throttled(max(1, round(resets)))
    quota_headers = {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": _hms(resets)}
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise _bad_request("The request body is not valid JSON.", "InvalidRequestContent") from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise _bad_request("The request must contain a 'query' string.", "InvalidRequestContent")
    options = body.get("options") or {}
    top = options.get("$top", MAX_TOP)
    if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise _bad_request(f"'$top' must be between 1 and {MAX_TOP}.", "InvalidTop")
    skip = options.get("$skip", 0) or 0
    if not isinstance(skip, int) or skip < 0:
        raise _bad_request("'$skip' must be a non-negative integer.", "InvalidSkip")
    result_format = options.get("resultFormat", "objectArray")
    if result_format not in ("objectArray", "table"):
        raise _bad_request(f"Unknown resultFormat '{result_format}'.", "InvalidResultFormat")
    rows, truncating = _evaluate(state, body["query"])
    token = options.get("$skipToken")
    offset = decode_skip_token(token, body["query"]) if token else skip
    page_size = min(top, state.config.page_size or MAX_TOP)
    if empty_page:
        page, next_offset = [], offset
    else:
        page = rows[offset:offset + page_size]
        next_offset = offset + page_size if offset + page_size < len(rows) and not truncating else None
    if result_format == "table":
        columns = list(page[0].keys()) if page else (list(rows[0].keys()) if rows else [])
        data: Any = {"columns": [{"name": c, "type": kql.column_type([r.get(c) for r in page[:50]])}
                                 for c in columns],
                     "rows": [[r.get(c) for c in columns] for r in page]}
    else:
        data = page
    response: dict[str, Any] = {"totalRecords": len(rows), "count": len(page),
                                "resultTruncated": "true" if truncating else "false"}
    if next_offset is not None:
        response["$skipToken"] = encode_skip_token(next_offset, body["query"])
    response["data"] = data
    response["facets"] = []
    return ApiResponse.json(200, response, quota_headers)
