"""Azure Retail Prices API client (azure.md section 2): URL builder, page parser, ``$skip`` paging, fetch.

The service pages with ``NextPageLink`` = the same query plus ``$skip=N``. Following the links one by one
is sequential (about 200 pages for the VM list, azure.md 2.6), so pages are fetched concurrently by
offset — but the step is never guessed: it is read from the service's first ``NextPageLink`` (page sizes
of 100 and 1000 are both documented, azure.md 2.2), every page's own link must point at the next offset,
and the end must be consistent (``SkipPaging``). A page that breaks a rule is re-fetched; one that keeps
breaking it, or keeps failing, fails the run: no page is missed or duplicated, whatever the page size.
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

from price.normalise import ITEM_FIELDS
from utils.errors import RetriableError, RunFailed
from utils.http_retry import RetryPolicy, get_json
from utils.logs import Progress

log = logging.getLogger(__name__)

API_VERSION = "2023-01-01-preview"
# Case-sensitive values since 2023-01-01-preview (azure.md 2.1).
VM_CONSUMPTION_FILTER = "serviceName eq 'Virtual Machines' and priceType eq 'Consumption'"


def first_page_url(prices_endpoint: str, odata_filter: str = VM_CONSUMPTION_FILTER) -> str:
    """``{endpoint}/api/retail/prices?api-version=...&currencyCode='USD'&meterRegion='primary'&$filter=...``."""
    query = {
        "api-version": API_VERSION,
        "currencyCode": "'USD'",
        "meterRegion": "'primary'",
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
    """Parse one response envelope (azure.md 2.2)::

        {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
         "Items": [{"armSkuName": "Standard_D2s_v3", "retailPrice": 0.096, ...}],
         "NextPageLink": "https://prices.azure.com:443/api/retail/prices?...&$skip=1000", "Count": 1000}

    Raises:
        RetriableError: not an envelope, ``Count`` != number of items, a link without a numeric ``$skip``,
            or an empty page that still has a NextPageLink (a gap; azure.md 2.2 notes an incident where
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

    Worked example (step 1000 learned from page 1's ``NextPageLink ...$skip=1000``): pages 0, 1000, 2000
    carry links to the next offset; page 3000 has 412 items and no link -> end at 3000, 3412 items. Had
    page 3000 been full (1000 items) and linkless, page 4000 must be fetched and found empty first: an
    early missing link (azure.md 2.2) must not end the list silently.

    Per-page rules (``check``; a violation makes the page worth re-fetching): a page with a link is full
    (``step`` items) and links to ``offset + step``. List rules (``verdict``, once nothing is in flight),
    with E = the lowest fetched page without a link: every page beyond E is empty; E is not empty unless
    it is page 0 (an empty page after a page that promised more is a gap); a full E is confirmed by an
    empty page at E + step.
    """

    def __init__(self, first: PricePage) -> None:
        if first.offset != 0:
            raise ValueError("the first page is at offset 0")
        self.pages: dict[int, PricePage] = {}
        self.step = first.next_skip or 0  # 0: single page, no step to learn
        if first.next_link is not None and (self.step <= 0 or first.count != self.step):
            raise RetriableError(
                f"prices page $skip=0: {first.count} items but NextPageLink says $skip={first.next_skip}"
            )
        self.pages[0] = first

    def check(self, page: PricePage) -> None:
        """Raise ``RetriableError`` when ``page`` breaks a per-page rule."""
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
        linkless = [o for o, p in self.pages.items() if p.next_link is None]
        return min(linkless) if linkless else None

    def wanted(self, in_flight: set[int], room: int) -> list[int]:
        """Offsets to request next (at most ``room``), never one already fetched or in flight."""
        if room <= 0 or self.step == 0:
            return []
        end = self.end_candidate()
        if end is not None:
            confirm = end + self.step
            full = self.pages[end].count == self.step
            if full and confirm not in self.pages and confirm not in in_flight:
                return [confirm]
            return []
        start = max([*self.pages, *in_flight]) + self.step
        return [start + i * self.step for i in range(room)]

    def verdict(self) -> tuple[str, int | None]:
        """With nothing in flight: ``("done", E)``, ``("refetch", E)`` or ``("more", None)``."""
        end = self.end_candidate()
        if end is None:
            return "more", None
        if self.step == 0:
            return "done", 0
        missing = [o for o in range(0, end, self.step) if o not in self.pages]
        if missing:
            raise PagingInconsistent(f"prices paging: pages {missing[:5]} below the end were never fetched")
        beyond_items = [o for o, p in self.pages.items() if o > end and p.count > 0]
        if beyond_items or (end > 0 and self.pages[end].count == 0):
            return "refetch", end
        if self.pages[end].count == self.step and end + self.step not in self.pages:
            return "more", None
        return "done", end

    def complete_items(self, end: int) -> list[dict[str, Any]]:
        """Items of pages 0..end in order, after checking the count against what paging promised."""
        offsets = list(range(0, end + 1, self.step)) if self.step else [0]
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


def fetch_price_items(
    session: requests.Session,
    prices_endpoint: str,
    *,
    workers: int,
    timeout: float,
    retry_policy: RetryPolicy,
    progress_logger: logging.Logger | None = None,
    odata_filter: str = VM_CONSUMPTION_FILTER,
) -> list[dict[str, Any]]:
    """Every item of the price list, in list order (``fetch_price_list(...).items``)."""
    return fetch_price_list(session, prices_endpoint, workers=workers, timeout=timeout, retry_policy=retry_policy,
                            progress_logger=progress_logger, odata_filter=odata_filter).items


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

    def fetch(offset: int, template: str | None, check: Callable[[PricePage], None] | None) -> PricePage:
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

        return policy.call(attempt, describe=describe, on_retry=counters.on_retry)

    def first_attempt_check(page: PricePage) -> None:
        SkipPaging(page)  # raises RetriableError when page 1 contradicts its own link

    first = fetch(0, None, first_attempt_check)
    paging = SkipPaging(first)
    progress.advance(1, items=first.count)
    end = 0
    if first.next_link is not None:
        end = _fetch_remaining(paging, first.next_link, fetch=fetch, workers=workers, retry_policy=retry_policy,
                               counters=counters, progress=progress, stop=stop)
    items = paging.complete_items(end)
    pages = end // paging.step + 1 if paging.step else 1
    progress.total = pages
    progress.finish()
    log.info("price list complete: %d pages of %s, %d items, %d requests, %d retries (%d throttled)",
             pages, paging.step or "one page", len(items), counters.requests, counters.retries, counters.throttles)
    return PriceList(items=items, pages=pages, page_size=paging.step, requests=counters.requests,
                     retries=counters.retries, throttles=counters.throttles)


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
                    if verdict == "done" and end is not None:
                        return end
                    if verdict == "refetch" and end is not None:
                        refetches[end] = refetches.get(end, 0) + 1
                        if refetches[end] >= retry_policy.max_attempts:
                            raise PagingInconsistent(
                                f"prices paging: page $skip={end} ends the list although pages beyond it have "
                                f"items, or is empty after a page that promised more ({refetches[end]} times)"
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
                        progress.total = candidate // paging.step + 1
        finally:
            stop.set()  # a failed page stops the others' retries early; harmless after success
            for future in in_flight:
                future.cancel()
