"""Azure Retail Prices API client: URL builder, page parser, ``$skip`` paging, fetch.

The service pages with ``NextPageLink`` = the same query plus ``$skip=N``. Following the links one by one
is sequential (~150-250 pages for the VM list), so pages are fetched concurrently by offset — but the step
is not guessed: it is read from the service's first ``NextPageLink`` (``DOCUMENTED_PAGE_SIZE`` stands in
only when page 1 has no link), every page's own link must point at the next offset, and the end must be
proven (``SkipPaging``): the list ends at a short page, or at a full page followed by an empty one. A link
is a hint, never the proof: Azure has served full pages without ``NextPageLink`` while more pages existed
(2023-03-10, https://learn.microsoft.com/answers/questions/1188465 , observed 2026-12-02). A page that breaks
a rule is re-fetched; one that keeps breaking it, or keeps failing, fails the run: no page is missed or
duplicated, whatever the page size, and a list that cannot be proven complete is never returned.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

from utils.azure_api.http import fetch, get_json
from utils.azure_api.paging import Verdict
from utils.azure_api.retry import RetryPolicy
from utils.errors import RetriableError, RunFailed
from utils.logs import Progress

log = logging.getLogger(__name__)

API_VERSION = "2023-01-01-preview"
# Filter values are case-sensitive since 2023-01-01-preview (Learn "Azure Retail Prices overview",
# https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices , observed 2026-12-02).
VM_CONSUMPTION_FILTER = "serviceName eq 'Virtual Machines' and priceType eq 'Consumption'"
# Items per page when the service's first page carries no link to learn it from. 1000 today: a real first page
# of 2023-01-01-preview has Count 1000 and NextPageLink ``...&$skip=1000`` (github.com/Arturo-Quiroga-MSFT/
# azure-architecture-diagram-builder src/data/pricing/regions/eastus2/virtual_machines.json, commit 9fb2cfeb,
# prices of 2026-07-14; observed 2026-12-02). Older docs and samples show 100 ("the API returns 100 values at
# once", github.com/holgerjs/az-sdk-py-samples py-get-azure-pricing-from-the-price-api.md), so a linkless first
# page of exactly 100 items is treated as full too.
DOCUMENTED_PAGE_SIZE = 1000
LEGACY_PAGE_SIZE = 100


# The fields of a price item the collector reads (docs/azure-facts.md 2.2); the page parser keeps only these,
# and absent fields become missing values.
ITEM_FIELDS = [
    "armRegionName", "armSkuName", "location", "productName", "skuName", "meterName", "type", "retailPrice",
    "effectiveStartDate", "effectiveEndDate", "meterId", "isPrimaryMeterRegion",
]  # fmt: skip


def first_page_url(prices_endpoint: str, odata_filter: str = VM_CONSUMPTION_FILTER) -> str:
    """``{endpoint}/api/retail/prices?api-version=...&currencyCode='USD'&$filter=...``.

    No ``meterRegion='primary'``: it "restricts results to primary meters" (Learn overview, URL above), and for
    some sizes the only Linux on-demand meter of a region is non-primary (Standard_D2s_v3 in mexicocentral,
    ``isPrimaryMeterRegion: false``, in the real list cited in ``price.normalise``); SpotLake's own collector
    never sent it (github.com/ddps-lab/spotlake collector/spot-dataset/azure/batch). Normalisation picks
    between primary and non-primary meters.
    """
    query = {
        "api-version": API_VERSION,
        "currencyCode": "'USD'",
        "$filter": odata_filter,
    }
    return f"{prices_endpoint.rstrip('/')}/api/retail/prices?{urlencode(query, quote_via=quote, safe=chr(39) + '$')}"


def skip_of(link: str) -> int | None:
    """The ``$skip`` offset of a page link, or None when it has none or it is not a number."""
    for name, value in parse_qsl(urlsplit(link).query, keep_blank_values=True):
        if name.lower() == "$skip":
            return int(value) if value.isdigit() else None
    return None


def with_skip(link: str, offset: int) -> str:
    """``link`` with its ``$skip`` replaced by ``offset`` (the rest of the service's link kept as sent)."""
    parts = urlsplit(link)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "$skip"]
    query.append(("$skip", str(offset)))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="'$")))


@dataclass(frozen=True)
class PricePage:
    """One parsed page. ``next_skip`` is the ``$skip`` of its NextPageLink (None on the last page)."""

    offset: int
    items: list[dict[str, Any]]
    next_link: str | None

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def next_skip(self) -> int | None:
        return None if self.next_link is None else skip_of(self.next_link)


def _intern(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) else value


def parse_price_page(payload: Any, offset: int) -> PricePage:
    """Parse one response envelope (docs/azure-facts.md 2.2)::

        {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
         "Items": [{"armSkuName": "Standard_D2s_v3", "retailPrice": 0.096, ...}],
         "NextPageLink": "https://prices.azure.com:443/api/retail/prices?...&$skip=1000", "Count": 1000}

    Raises:
        RetriableError: not an envelope, ``Count`` != number of items, a link without a numeric ``$skip``,
            or an empty page that still has a NextPageLink (a gap; docs/azure-facts.md 2.2 notes an incident where
            links came back wrong) — worth re-fetching.
    """
    where = f"prices page $skip={offset}"
    if not isinstance(payload, dict) or not isinstance(payload.get("Items"), list):
        raise RetriableError(f"{where}: response is not a price-list envelope")
    items = payload["Items"]
    count = payload.get("Count")
    if not isinstance(count, int) or count != len(items):
        raise RetriableError(f"{where}: Count={count!r} but {len(items)} items")
    link = payload.get("NextPageLink") or None
    if link is not None and skip_of(link) is None:
        raise RetriableError(f"{where}: NextPageLink has no numeric $skip")
    if link is not None and not items:
        raise RetriableError(f"{where}: empty page with a NextPageLink (gap)")
    if not all(isinstance(item, dict) for item in items):
        raise RetriableError(f"{where}: an item is not a JSON object")
    # Keep only the fields normalisation reads: a full item carries ~25 fields (savingsPlan, ids, ...) and
    # the whole list is ~140k items, so projecting here cuts the collector's peak memory substantially.
    # Repeated texts (regions, product names, dates) are interned so 140k items share one copy of each.
    kept = [{field: _intern(item.get(field)) for field in ITEM_FIELDS} for item in items]
    return PricePage(offset=offset, items=kept, next_link=link)


class PagingInconsistent(RunFailed):
    """The service's pages do not describe one contiguous list, even after re-fetching."""


class SkipPaging:
    """Book-keeping of ``$skip`` paging: which offsets to fetch, when the list is complete. No I/O.

    The step is the ``$skip`` of page 1's ``NextPageLink``; without a link it is ``DOCUMENTED_PAGE_SIZE``,
    or page 1's own count when that is a documented page size (``LEGACY_PAGE_SIZE``) or more — page 1 is
    then a *full* page and must be confirmed like any other. A shorter linkless page 1 is the whole list
    only after the offset after it is found empty (``fetch_price_list`` checks that before paging starts).

    Worked example (step 1000): pages 0, 1000, 2000 carry links to the next offset; page 3000 has 412 items
    -> end at 3000, 3412 items. Had page 3000 been full (1000 items) and linkless, page 4000 is fetched: empty
    -> the list ends at 3000; with items -> page 3000 merely lacked its link (the 2023 incident) and paging
    goes on. A list is complete only when it ends at a short page or at a full page followed by an empty
    one; a link is a hint, the item counts are the proof.

    Per-page rules (``check``; a violation makes the page worth re-fetching): a page with a link is full
    (``step`` items) and links to ``offset + step``; no page has more than ``step`` items. List rules
    (``verdict``, once nothing is in flight), with E = the lowest fetched page with fewer than ``step``
    items: every page below E was fetched; every page beyond E is empty (a short page followed by items was
    cut short); an empty E right after a page whose link promised it is a gap.
    """

    def __init__(self, first: PricePage) -> None:
        if first.offset != 0:
            raise ValueError("the first page is at offset 0")
        self.pages: dict[int, PricePage] = {}
        if first.next_link is not None:
            self.step = first.next_skip or 0
            if self.step <= 0 or first.count != self.step:
                raise RetriableError(
                    f"prices page $skip=0: {first.count} items but NextPageLink says $skip={first.next_skip}"
                )
        elif first.count >= DOCUMENTED_PAGE_SIZE or first.count == LEGACY_PAGE_SIZE:
            self.step = first.count  # a full first page without a link: confirmed by the next offset
        else:
            # short against the documented size: the whole list, once the offset after it is found empty
            # (fetch_price_list probes it; items there mean page 1 came back wrong)
            self.step = DOCUMENTED_PAGE_SIZE
        self.pages[0] = first

    def check(self, page: PricePage) -> None:
        """Raise ``RetriableError`` when ``page`` breaks a per-page rule."""
        if page.count > self.step:
            raise RetriableError(
                f"prices page $skip={page.offset}: {page.count} items, more than the page size {self.step}"
            )
        if page.next_link is None:
            return
        if page.next_skip != page.offset + self.step:
            raise RetriableError(
                f"prices page $skip={page.offset}: NextPageLink points at $skip={page.next_skip}, "
                f"expected {page.offset + self.step}"
            )
        if page.count != self.step:
            raise RetriableError(
                f"prices page $skip={page.offset}: {page.count} items on a page with a NextPageLink "
                f"(page size {self.step})"
            )

    def add(self, page: PricePage) -> None:
        self.check(page)
        self.pages[page.offset] = page

    def discard(self, offset: int) -> None:
        self.pages.pop(offset, None)

    def end_candidate(self) -> int | None:
        """The lowest fetched page with fewer than ``step`` items (None while every fetched page is full)."""
        short = [o for o, p in self.pages.items() if p.count < self.step]
        return min(short) if short else None

    def is_complete(self) -> bool:
        """True when page 0 alone is the whole list (no further request is needed)."""
        return self.pages[0].count < self.step

    def wanted(self, in_flight: set[int], room: int) -> list[int]:
        """Offsets to request next (at most ``room``), never one already fetched or in flight.

        While every fetched page is full, the window slides on; past a full page without a link (most
        likely the real end) only the one confirming offset is requested.
        """
        if room <= 0 or self.end_candidate() is not None:
            return []
        highest = max([*self.pages, *in_flight])
        start = highest + self.step
        if highest in self.pages and self.pages[highest].next_link is None:
            return [start]
        return [start + i * self.step for i in range(room)]

    def verdict(self) -> tuple[Verdict, int | None]:
        """With nothing in flight: ``(DONE, E)``, ``(REFETCH, E)`` or ``(MORE, None)``."""
        end = self.end_candidate()
        if end is None:
            return Verdict.MORE, None
        missing = [o for o in range(0, end, self.step) if o not in self.pages]
        if missing:
            raise PagingInconsistent(f"prices paging: pages {missing[:5]} below the end were never fetched")
        beyond_items = [o for o, p in self.pages.items() if o > end and p.count > 0]
        promised = end > 0 and self.pages[end].count == 0 and self.pages[end - self.step].next_link is not None
        if beyond_items or promised:
            return Verdict.REFETCH, end
        return Verdict.DONE, end

    def unlinked_full_pages(self, end: int) -> list[int]:
        """Offsets below ``end`` of full pages that came without a NextPageLink (the list went on)."""
        return sorted(o for o, p in self.pages.items() if o < end and p.next_link is None and p.count == self.step)

    def complete_items(self, end: int) -> list[dict[str, Any]]:
        """Items of pages 0..end in order, after checking the count against what paging promised."""
        offsets = list(range(0, end + 1, self.step))
        items = [item for o in offsets for item in self.pages[o].items]
        promised = sum(self.pages[o].count for o in offsets)
        if len(items) != promised:
            raise PagingInconsistent(f"prices paging: {len(items)} items fetched, pages promised {promised}")
        return items


def _interruptible(sleep: Callable[[float], None], stop: threading.Event) -> Callable[[float], None]:
    """``time.sleep`` becomes a wait that ends when ``stop`` is set; an injected test sleep is kept."""
    if sleep is not time.sleep:
        return sleep

    def wait_unless_stopped(seconds: float) -> None:
        stop.wait(seconds)

    return wait_unless_stopped


class _Counters:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.lock = threading.Lock()
        self.retries = 0
        self.throttles = 0
        self.requests = 0

    def request(self) -> None:
        with self.lock:
            self.requests += 1

    def on_retry(self, error: RetriableError, _retry: int, _delay: float) -> None:
        throttled = error.status == 429
        with self.lock:
            self.retries += 1
            self.throttles += int(throttled)
        if self.progress is not None:
            self.progress.count(retries=1, throttles=int(throttled))


@dataclass(frozen=True)
class PriceList:
    """A complete price list and how it was fetched."""

    items: list[dict[str, Any]]
    pages: int  # pages that make up the list (0..end)
    page_size: int  # the service's page size (0: the list fit in one page)
    requests: int  # HTTP attempts, including retries and the pages probed past the end
    retries: int
    throttles: int


def fetch_price_list(
    session: requests.Session,
    prices_endpoint: str,
    *,
    workers: int,
    timeout: float,
    retry_policy: RetryPolicy,
    progress_logger: logging.Logger | None = None,
    odata_filter: str = VM_CONSUMPTION_FILTER,
) -> PriceList:
    """Fetch the whole price list with at most ``workers`` requests in flight.

    Raises:
        RunFailed: a page kept failing (after ``retry_policy``), or the pages stayed inconsistent.
    """
    logger = progress_logger or log
    progress = Progress(logger, "price pages")
    counters = _Counters(progress)
    url = first_page_url(prices_endpoint, odata_filter)
    stop = threading.Event()
    policy = dataclasses.replace(retry_policy, sleep=_interruptible(retry_policy.sleep, stop))

    def fetch_page(offset: int, template: str | None, check: Callable[[PricePage], None] | None) -> PricePage:
        page_url = url if template is None else with_skip(template, offset)
        describe = f"prices page $skip={offset}"

        def attempt() -> PricePage:
            if stop.is_set():
                raise RunFailed(f"{describe}: abandoned, another page failed")
            counters.request()
            payload, _ = get_json(session, page_url, timeout=timeout, describe=describe)
            page = parse_price_page(payload, offset)
            if check is not None:
                check(page)
            return page

        return fetch(policy, describe, attempt, on_retry=counters.on_retry)

    first, paging = _fetch_first_page(fetch_page, url, retry_policy=retry_policy, counters=counters,
                                      progress=progress, logger=logger)
    end = 0
    if not paging.is_complete():
        if first.next_link is None:
            logger.warning("prices page $skip=0: %d items and no NextPageLink; confirming the end at $skip=%d",
                           first.count, paging.step)
        end = _fetch_remaining(paging, first.next_link or url, fetch=fetch_page, workers=workers,
                               retry_policy=retry_policy, counters=counters, progress=progress, stop=stop)
    unlinked = paging.unlinked_full_pages(end)
    if unlinked:
        logger.warning("%d full price page(s) came without a NextPageLink although the list went on ($skip=%s); "
                       "each was confirmed by the page after it", len(unlinked), ",".join(map(str, unlinked[:5])))
    items = paging.complete_items(end)
    pages = end // paging.step + (1 if paging.pages[end].count or end == 0 else 0)
    progress.total = pages
    progress.finish()
    log.info("price list complete: %d pages of %d, %d items, %d requests, %d retries (%d throttled)",
             pages, paging.step, len(items), counters.requests, counters.retries, counters.throttles)
    return PriceList(items=items, pages=pages, page_size=paging.step, requests=counters.requests,
                     retries=counters.retries, throttles=counters.throttles)


def _fetch_first_page(
    fetch: Callable[[int, str | None, Callable[[PricePage], None] | None], PricePage],
    url: str,
    *,
    retry_policy: RetryPolicy,
    counters: _Counters,
    progress: Progress,
    logger: logging.Logger,
) -> tuple[PricePage, SkipPaging]:
    """Page 1 and the paging it sets up. A short page 1 without a link is the whole list only once the
    offset after it is found empty: the page size it would be short of is not learned from the service
    (no link), so items there mean page 1 came back wrong; it is re-fetched, and a list that keeps
    answering so cannot be proven complete (``PagingInconsistent``)."""

    def first_attempt_check(page: PricePage) -> None:
        SkipPaging(page)  # raises RetriableError when page 1 contradicts its own link

    for attempt in range(1, retry_policy.max_attempts + 1):
        first = fetch(0, None, first_attempt_check)
        paging = SkipPaging(first)
        if first.next_link is not None or first.count == 0 or not paging.is_complete():
            break
        probe = fetch(first.count, url, None)
        progress.advance(0, probes=1)
        if probe.count == 0:
            break
        logger.warning("prices page $skip=0: %d items and no NextPageLink, yet $skip=%d has %d items "
                       "(attempt %d/%d); re-fetching page 1", first.count, first.count, probe.count, attempt,
                       retry_policy.max_attempts)
        counters.on_retry(RetriableError("short first page without a link"), attempt, 0.0)
    else:
        raise PagingInconsistent(
            f"prices paging: the list cannot be proven complete: page $skip=0 has {first.count} items and no "
            f"NextPageLink, but $skip={first.count} has more ({retry_policy.max_attempts} times)"
        )
    progress.advance(1, items=first.count)
    return first, paging


def _fetch_remaining(
    paging: SkipPaging,
    template: str,
    *,
    fetch: Callable[[int, str | None, Callable[[PricePage], None] | None], PricePage],
    workers: int,
    retry_policy: RetryPolicy,
    counters: _Counters,
    progress: Progress,
    stop: threading.Event,
) -> int:
    """Fetch pages after the first with a sliding window of ``workers`` requests; returns the end offset."""
    refetches: dict[int, int] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="prices") as pool:
        in_flight: dict[Future[PricePage], int] = {}
        try:
            while True:
                for offset in paging.wanted(set(in_flight.values()), workers - len(in_flight)):
                    in_flight[pool.submit(fetch, offset, template, paging.check)] = offset
                if not in_flight:
                    verdict, end = paging.verdict()
                    if verdict is Verdict.DONE and end is not None:
                        return end
                    if verdict is Verdict.REFETCH and end is not None:
                        refetches[end] = refetches.get(end, 0) + 1
                        if refetches[end] >= retry_policy.max_attempts:
                            raise PagingInconsistent(
                                f"prices paging: the list cannot be proven complete: page $skip={end} ends it "
                                f"although pages beyond it have items, or is empty after a page that promised "
                                f"more ({refetches[end]} times)"
                            )
                        log.warning("prices page $skip=%d looks like a premature end; re-fetching it", end)
                        counters.on_retry(RetriableError("premature end"), refetches[end], 0.0)
                        paging.discard(end)
                        in_flight[pool.submit(fetch, end, template, paging.check)] = end
                    continue
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    in_flight.pop(future)
                    page = future.result()  # RunFailed once the page's retries are spent
                    paging.add(page)
                    # an empty page past the end is a probe, not a page of the list
                    progress.advance(1 if page.count else 0, items=page.count, probes=0 if page.count else 1)
                    candidate = paging.end_candidate()
                    if candidate is not None:
                        progress.total = candidate // paging.step + (1 if paging.pages[candidate].count else 0)
        finally:
            stop.set()  # a failed page stops the others' retries early; harmless after success
            for future in in_flight:
                future.cancel()
