"""utils/azure_api/prices.py: URL building, page parsing, and the $skip paging rules (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utils.azure_api.prices import (
    PagingInconsistent,
    PricePage,
    SkipPaging,
    first_page_url,
    parse_price_page,
    skip_of,
    with_skip,
)
from utils.errors import RetriableError

LINK = "https://prices.azure.com:443/api/retail/prices?api-version=2023-01-01-preview&$filter=x&$skip={}"


def page(offset: int, count: int, next_skip: int | None) -> PricePage:
    items = [{"n": offset + i} for i in range(count)]
    return PricePage(offset=offset, items=items, next_link=None if next_skip is None else LINK.format(next_skip))


def envelope(count: int, next_skip: int | None, claimed: int | None = None) -> dict[str, Any]:
    return {"BillingCurrency": "USD", "Items": [{"n": i} for i in range(count)],
            "NextPageLink": None if next_skip is None else LINK.format(next_skip),
            "Count": count if claimed is None else claimed}


def test_the_first_url_carries_the_vm_consumption_usd_filter_and_asks_for_every_meter_region() -> None:
    url = first_page_url("http://127.0.0.1:1234/")
    assert url.startswith("http://127.0.0.1:1234/api/retail/prices?api-version=2023-01-01-preview")
    assert "currencyCode='USD'" in url
    assert "meterRegion" not in url  # 'primary' would drop sizes whose only Linux meter is non-primary
    assert "$filter=serviceName%20eq%20'Virtual%20Machines'%20and%20priceType%20eq%20'Consumption'" in url


def test_skip_is_read_from_and_written_into_the_service_link() -> None:
    link = LINK.format(1000)
    assert skip_of(link) == 1000
    moved = with_skip(link, 5000)
    assert skip_of(moved) == 5000
    assert moved.startswith("https://prices.azure.com:443/api/retail/prices?api-version=2023-01-01-preview")
    assert skip_of("https://x/api?$filter=a") is None


def test_a_page_whose_count_disagrees_with_its_items_is_retried() -> None:
    with pytest.raises(RetriableError, match="Count=5 but 3 items"):
        parse_price_page(envelope(3, None, claimed=5), 0)


def test_an_empty_page_that_still_links_on_is_a_gap_worth_retrying() -> None:
    with pytest.raises(RetriableError, match="gap"):
        parse_price_page(envelope(0, 100), 100)


def test_a_response_that_is_not_an_envelope_is_retried() -> None:
    with pytest.raises(RetriableError):
        parse_price_page(["not", "an", "envelope"], 0)


def test_the_step_comes_from_the_first_link_and_must_match_the_first_page() -> None:
    assert SkipPaging(page(0, 100, 100)).step == 100
    with pytest.raises(RetriableError):
        SkipPaging(page(0, 100, 1000))


def test_a_page_linking_to_the_wrong_offset_is_rejected() -> None:
    paging = SkipPaging(page(0, 100, 100))
    with pytest.raises(RetriableError, match="expected 200"):
        paging.add(page(100, 100, 300))


def test_a_short_page_with_a_link_is_rejected() -> None:
    paging = SkipPaging(page(0, 100, 100))
    with pytest.raises(RetriableError, match="99 items"):
        paging.add(page(100, 99, 200))


def test_a_full_last_page_needs_an_empty_page_after_it_before_the_list_is_done() -> None:
    paging = SkipPaging(page(0, 100, 100))
    paging.add(page(100, 100, None))
    assert paging.verdict() == ("more", None)
    assert paging.wanted(set(), 4) == [200]  # only the confirming offset past a linkless full page
    paging.add(page(200, 0, None))
    assert paging.verdict() == ("done", 200)
    assert len(paging.complete_items(200)) == 200
    assert paging.unlinked_full_pages(200) == [100]


def test_items_after_a_full_linkless_page_mean_only_its_link_was_missing() -> None:
    paging = SkipPaging(page(0, 100, 100))
    paging.add(page(100, 100, None))
    paging.add(page(200, 37, None))
    assert paging.verdict() == ("done", 200)
    assert [i["n"] for i in paging.complete_items(200)] == list(range(237))
    assert paging.unlinked_full_pages(200) == [100]


def test_items_after_a_short_page_mean_the_end_came_early() -> None:
    paging = SkipPaging(page(0, 100, 100))
    paging.add(page(100, 60, None))
    paging.add(page(200, 37, None))
    assert paging.verdict() == ("refetch", 100)


@pytest.mark.parametrize("size", [1000, 100, 1500])
def test_a_full_first_page_without_a_link_is_confirmed_by_the_next_offset(size: int) -> None:
    paging = SkipPaging(page(0, size, None))
    assert paging.step == size
    assert not paging.is_complete()
    assert paging.verdict() == ("more", None)
    assert paging.wanted(set(), 8) == [size]
    paging.add(page(size, 0, None))
    assert paging.verdict() == ("done", size)
    assert len(paging.complete_items(size)) == size


def test_the_first_page_incident_continues_with_the_first_page_as_the_page_size() -> None:
    paging = SkipPaging(page(0, 1000, None))
    paging.add(page(1000, 1000, 2000))
    assert paging.wanted(set(), 3) == [2000, 3000, 4000]
    paging.add(page(2000, 5, None))
    assert paging.verdict() == ("done", 2000)
    assert len(paging.complete_items(2000)) == 2005


def test_a_short_first_page_without_a_link_is_the_whole_list() -> None:
    paging = SkipPaging(page(0, 999, None))
    assert paging.is_complete()
    assert paging.step == 1000
    assert paging.verdict() == ("done", 0)


def test_a_page_larger_than_the_page_size_is_rejected() -> None:
    paging = SkipPaging(page(0, 1000, None))
    with pytest.raises(RetriableError, match="more than the page size"):
        paging.add(page(1000, 1001, None))


def test_an_empty_linkless_page_after_a_page_that_promised_more_is_a_gap() -> None:
    paging = SkipPaging(page(0, 100, 100))
    paging.add(page(100, 0, None))
    assert paging.verdict() == ("refetch", 100)


def test_an_empty_list_is_one_empty_page() -> None:
    paging = SkipPaging(page(0, 0, None))
    assert paging.verdict() == ("done", 0)
    assert paging.complete_items(0) == []


def test_a_missing_page_below_the_end_is_an_inconsistency() -> None:
    paging = SkipPaging(page(0, 100, 100))
    paging.add(page(200, 5, None))
    with pytest.raises(PagingInconsistent):
        paging.verdict()


def simulate(
    total: int, page_size: int, workers: int, drop_links: frozenset[int] = frozenset()
) -> list[dict[str, Any]]:
    """Drive SkipPaging like fetch_price_list does, against an in-memory service that omits the
    NextPageLink of the pages numbered in ``drop_links`` (the early-missing-link incident)."""

    def serve(offset: int) -> PricePage:
        count = max(0, min(page_size, total - offset))
        more = offset + page_size < total and offset // page_size not in drop_links
        return page(offset, count, offset + page_size if more else None)

    paging = SkipPaging(serve(0))
    in_flight: list[int] = []
    for _ in range(10_000):
        in_flight += paging.wanted(set(in_flight), workers - len(in_flight))
        if not in_flight:
            verdict, end = paging.verdict()
            if verdict == "done":
                return paging.complete_items(end)
            assert verdict == "more"
            continue
        # complete the oldest request first, then the newest: out-of-order completion
        paging.add(serve(in_flight.pop(0 if len(in_flight) % 2 else -1)))
    raise AssertionError("paging did not terminate")


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 2500), page_size=st.integers(1, 400), workers=st.integers(1, 16))
def test_paging_returns_every_item_once_in_order_for_any_size_and_page_size(
    total: int, page_size: int, workers: int
) -> None:
    items = simulate(total, page_size, workers)
    assert [i["n"] for i in items] == list(range(total))


@settings(max_examples=200, deadline=None)
@given(pages=st.integers(1, 12), tail=st.integers(0, 99), page_size=st.sampled_from([100, 1000]),
       workers=st.integers(1, 8), drop=st.frozensets(st.integers(0, 12)))
def test_missing_links_on_full_pages_never_lose_or_duplicate_an_item(
    pages: int, tail: int, page_size: int, workers: int, drop: frozenset[int]
) -> None:
    total = pages * page_size + tail
    items = simulate(total, page_size, workers, drop)
    assert [i["n"] for i in items] == list(range(total))
