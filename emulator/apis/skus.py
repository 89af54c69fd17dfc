"""Compute Resource SKUs: ``GET /subscriptions/{sub}/providers/Microsoft.Compute/skus`` (docs/azure-facts.md 4.1-4.3).

Response ``{"value": [ResourceSku...], "nextLink": ...}``; only ``$filter=location eq '<region>'`` is
supported (as the real API). The real service usually answers in one page; the emulator pages (500 records,
or ``page_size``) so that clients are forced to follow ``nextLink``, which points back at this host.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

from emulator.errors import ArmError
from emulator.models.resource_skus import resource_skus_of
from emulator.state import EmulatorState
from emulator.wire import ApiRequest, ApiResponse

DEFAULT_PAGE_SIZE = 500
API_VERSIONS = ("2017-09-01", "2019-04-01", "2021-07-01")
_LOCATION_FILTER = re.compile(r"^\s*location\s+eq\s+'(?P<location>[^']*)'\s*$", re.IGNORECASE)


def handle(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    api_version = request.arg("api-version")
    if api_version not in API_VERSIONS:
        raise ArmError(400, "NoRegisteredProviderFound",
                       f"No registered resource provider found for location 'global' and API version "
                       f"'{api_version}' for type 'skus'. The supported api-versions are "
                       f"'{', '.join(API_VERSIONS)}'.")
    model = resource_skus_of(state.catalog)
    text = request.arg("$filter")
    if text:
        match = _LOCATION_FILTER.match(text)
        if match is None:
            raise ArmError(400, "InvalidFilterInQueryString",
                           f"The filter '{text}' is not supported. Supported filter: location eq '<location>'.")
        records = model.region_records(match["location"])
    else:
        records = model.all_records()
    token = request.arg("$skiptoken") or "0"
    if not token.isdigit():
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{token}' is invalid.")
    start = int(token)
    page_size = state.config.page_size or DEFAULT_PAGE_SIZE
    if empty_page:
        page, next_start = [], start
    else:
        page = records[start:start + page_size]
        next_start = start + page_size if start + page_size < len(records) else None
    body = b'{"value":[' + b",".join(page) + b"]"
    if next_start is not None:
        query = {k: v for k, v in request.query.items() if k.lower() != "$skiptoken"}
        query["$skiptoken"] = str(next_start)
        link = (f"{request.base_url}/subscriptions/{request.params['subscription']}/providers/Microsoft.Compute/"
                f"skus?{urlencode(query, quote_via=quote, safe=chr(39) + '$')}")
        body += b',"nextLink":"' + link.replace('"', '%22').encode() + b'"'
    body += b"}"
    return ApiResponse.json(200, body, {"x-ms-ratelimit-remaining-subscription-reads": "11999"})
