"""Retail Prices API: ``GET /api/retail/prices`` (docs/azure-facts.md 2.1-2.3). No authentication.

Envelope: ``{"BillingCurrency", "CustomerEntityId", "CustomerEntityType", "Items", "NextPageLink", "Count"}``
with ``Count`` = items in this page and an absolute ``NextPageLink`` (``$skip``) back to this host, null on
the last page. ``$filter`` supports ``field eq 'v'``, ``contains(field,'v')`` and ``and``; values are
case-sensitive (as since api-version 2023-01-01-preview); anything else is a 400.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, urlencode

from emulator.errors import PricesError
from emulator.models.price_items import FILTER_FIELDS, price_items_of
from emulator.state import EmulatorState
from emulator.wire import ApiRequest, ApiResponse

DEFAULT_PAGE_SIZE = 1000
API_VERSIONS = frozenset({"2023-01-01-preview", "2021-10-01-preview", "2021-10-01", "2020-06-01"})
# Reference currencies (USD is the billing currency; others are for reference, docs/azure-facts.md 2.1).
CURRENCY_RATES: dict[str, float] = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0, "CAD": 1.36,
                                    "AUD": 1.52, "INR": 83.0, "KRW": 1330.0}

_EQ_RE = re.compile(r"(?P<field>[A-Za-z]+)\s+eq\s+'(?P<value>(?:[^']|'')*)'")
_CONTAINS_RE = re.compile(r"contains\(\s*(?P<field>[A-Za-z]+)\s*,\s*'(?P<value>(?:[^']|'')*)'\s*\)")
_AND_RE = re.compile(r"\s+and\s+")


def parse_filter(text: str | None) -> tuple[tuple[str, str, str], ...]:
    """``"serviceName eq 'Virtual Machines' and contains(meterName,'Spot')"`` ->
    ``(("eq", "serviceName", "Virtual Machines"), ("contains", "meterName", "Spot"))``.

    Raises:
        PricesError: 400 for any other syntax (or, ne, unknown fields, unquoted values).
    """
    if text is None or not text.strip():
        return ()
    conditions: list[tuple[str, str, str]] = []
    position, source = 0, text.strip()
    while True:
        eq = _EQ_RE.match(source, position)
        contains = _CONTAINS_RE.match(source, position)
        match = eq or contains
        if match is None:
            raise _bad_filter(text, f"unsupported expression at {source[position:position + 40]!r}")
        field = FILTER_FIELDS.get(match["field"].lower())
        if field is None:
            raise _bad_filter(text, f"unknown field {match['field']!r}")
        conditions.append(("eq" if eq else "contains", field, match["value"].replace("''", "'")))
        position = match.end()
        if position == len(source):
            return tuple(conditions)
        joiner = _AND_RE.match(source, position)
        if joiner is None:
            raise _bad_filter(text, f"expected 'and' at {source[position:position + 40]!r}")
        position = joiner.end()


def _bad_filter(text: str, why: str) -> PricesError:
    return PricesError(400, "BadRequest",
                       f"Invalid OData parameters supplied: $filter '{text}': {why}. The emulator supports "
                       "\"field eq 'value'\", \"contains(field,'value')\" and 'and'.")


def _currency(request: ApiRequest) -> str:
    raw = (request.arg("currencyCode") or "USD").strip().strip("'\"").upper()
    if raw not in CURRENCY_RATES:
        raise PricesError(400, "BadRequest", f"Invalid currency code '{raw}'.")
    return raw


def without_next_link(body: bytes) -> bytes:
    """The ``nolink`` fault: the page as served, but ``NextPageLink`` null (Azure did this on full pages
    while more pages existed, 2023-03-10, https://learn.microsoft.com/answers/questions/1188465)."""
    envelope = json.loads(body)
    envelope["NextPageLink"] = None
    return json.dumps(envelope, separators=(",", ":")).encode()


def handle(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    """Serve one page of the Retail Prices list."""
    api_version = request.arg("api-version")
    if api_version is not None and api_version not in API_VERSIONS:
        raise PricesError(400, "BadRequest", f"Invalid api-version '{api_version}'. Supported: "
                                             f"{', '.join(sorted(API_VERSIONS))}.")
    currency = _currency(request)
    meter_region = request.arg("meterRegion")
    if meter_region is not None and meter_region.strip("'\"") not in ("primary", "all"):
        raise PricesError(400, "BadRequest", f"Invalid meterRegion '{meter_region}'; use 'primary'.")
    conditions = parse_filter(request.arg("$filter"))
    if meter_region is not None and meter_region.strip("'\"") == "primary":
        # "restricts results to primary meters" (Learn "Azure Retail Prices overview",
        # https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices , 2026-12-02)
        conditions = (*conditions, ("eq", "isPrimaryMeterRegion", "true"))
    skip_text = request.arg("$skip") or "0"
    if not skip_text.isdigit():
        raise PricesError(400, "BadRequest", f"Invalid $skip '{skip_text}'.")
    skip = int(skip_text)
    page_size = state.config.page_size or DEFAULT_PAGE_SIZE
    model = price_items_of(state.catalog)
    positions = model.select(conditions)
    if empty_page:
        # Injected fault: an empty page whose link points at the same offset (nothing is lost for a
        # client that follows NextPageLink instead of stopping at the first empty page).
        page, next_skip = positions[:0], skip
    else:
        page = positions[skip:skip + page_size]
        next_skip = skip + page_size if skip + page_size < len(positions) else None
    items = model.records(page)
    if currency != "USD":
        rate = CURRENCY_RATES[currency]
        for item in items:
            item["currencyCode"] = currency
            item["retailPrice"] = round(item["retailPrice"] * rate, 6)
            item["unitPrice"] = round(item["unitPrice"] * rate, 6)
    if api_version != "2023-01-01-preview":
        for item in items:
            item.pop("savingsPlan", None)
    next_link = None
    if next_skip is not None:
        query = {k: v for k, v in request.query.items() if k.lower() != "$skip"}
        query["$skip"] = str(next_skip)
        next_link = f"{request.base_url}/api/retail/prices?{urlencode(query, quote_via=quote, safe=chr(39) + '$')}"
    envelope = {
        "BillingCurrency": currency, "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
        "Items": items, "NextPageLink": next_link, "Count": len(items),
    }
    return ApiResponse.json(200, json.dumps(envelope, separators=(",", ":")).encode(),
                            {"x-ms-ratelimit-remaining-retailPrices-requests": "1000"})
