"""price/collect_price.py against the emulator: exact dataset, paging at any page size, every fault kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from emulator.catalog import load_catalog
from emulator.models.price_items import price_items_of
from emulator.testing import RunningEmulator, running_emulator
from price import collect_price
from tests.price.helpers import (
    EDGE_CATALOG,
    FAULT_KINDS,
    SLOT_TEXT,
    InProcessCollector,
    cleaned,
    edge_emulator_fixtures,
    fast_policy,
    stored_keys,
    write_wide_catalog,
)
from utils.constants import PRICE_COLUMNS, price_key
from utils.emulator_mode import with_emulator_url
from utils.settings import load_settings
from utils.timestamps import parse_slot

PRICE = InProcessCollector("price", collect_price, "price/collect_price.py", price_key)
# The hand-written edge-case catalog, 7 items per page so faults land mid-list.
edge_emulator, emu = edge_emulator_fixtures(page_size=7)


def collect(url: str, tmp_path: Path, workers: int = 4) -> pd.DataFrame:
    env = {"SPOTLAKE_STORE": str(tmp_path / "s"), "SPOTLAKE_AZURE_EMULATOR": "1",
           "SPOTLAKE_PRICE_WORKERS": str(workers), "SPOTLAKE_HTTP_TIMEOUT": "5"}
    settings = with_emulator_url(load_settings(env), url)
    session = collect_price.price_session(workers)
    return collect_price.collect_prices(settings, session, retry_policy=fast_policy(),
                                        as_of=parse_slot(SLOT_TEXT))


def test_the_edge_catalog_prices_equal_the_emulator_truth(emu: RunningEmulator, tmp_path: Path) -> None:
    expected = load_catalog(EDGE_CATALOG).expected_prices()
    frame = collect(emu.url, tmp_path)
    pd.testing.assert_frame_equal(frame, expected)
    # the edge cases really are in there
    assert ("Standard", "NC24ads_A100_v4") in set(zip(frame["InstanceTier"], frame["InstanceType"], strict=True))
    assert {"Basic", "Standard"} <= set(frame.loc[frame["InstanceType"] == "A1", "InstanceTier"])
    assert "usgovvirginia" not in set(frame["Region"])
    assert "F2s_v2" not in set(frame["InstanceType"])


@pytest.mark.slow
def test_the_bundled_world_catalog_prices_equal_the_emulator_truth(tmp_path: Path) -> None:
    with running_emulator() as world:
        price_items_of(world.state.catalog)  # ~15 s on a busy 2-core machine: not inside the first timed request
        frame = collect(world.url, tmp_path, workers=8)
        calls = world.stats()["prices"]["calls"]
    expected = load_catalog().expected_prices()
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == PRICE_COLUMNS
    assert len(frame) > 20_000
    assert calls < 160  # ~141 pages of 1000 + a few past the end: no page fetched many times


@pytest.mark.parametrize("page_size", [1, 2, 5, 46, 47, 48, 1000])
def test_any_page_size_gives_the_same_dataset(page_size: int, tmp_path: Path) -> None:
    expected = load_catalog(EDGE_CATALOG).expected_prices()
    with running_emulator(catalog=EDGE_CATALOG, page_size=page_size) as small:
        frame = collect(small.url, tmp_path, workers=3)
    pd.testing.assert_frame_equal(frame, expected)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_recoverable_fault_is_retried_and_gives_the_clean_dataset(
    kind: str, emu: RunningEmulator, base_env: dict[str, str]
) -> None:
    code, env = PRICE.run_with_fault(emu, base_env, "prices", kind, recoverable=True)
    assert code == 0
    stored = PRICE.stored(env)
    pd.testing.assert_frame_equal(stored, load_catalog(EDGE_CATALOG).expected_prices())
    assert emu.stats()["prices"]["calls"] >= 7 + 2  # 7 pages, and the 2 faulted calls were made again


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_persistent_fault_fails_the_run_and_writes_nothing(
    kind: str, emu: RunningEmulator, base_env: dict[str, str]
) -> None:
    code, env = PRICE.run_with_fault(emu, base_env, "prices", kind, recoverable=False)
    assert code == 1
    assert stored_keys(env) == []


def test_a_run_by_path_recovers_from_a_fault_and_stores_the_dataset(
    emu: RunningEmulator, base_env: dict[str, str]
) -> None:
    emu.set_faults("prices:500@calls=3;prices:429(0)@calls=5")
    err, env = PRICE.run_by_path(emu.url, base_env)
    assert f"wrote 9 price rows to {PRICE.key}" in err
    assert "1 Linux VM price meter(s) are on-demand meters priced 0" in err  # westus2 D4s_v3
    pd.testing.assert_frame_equal(PRICE.stored(env), load_catalog(EDGE_CATALOG).expected_prices())


def test_a_bad_timestamp_is_a_usage_error(emu: RunningEmulator, base_env: dict[str, str]) -> None:
    code, env = PRICE.run(emu.url, base_env, argv=["--timestamp", "yesterday"], max_attempts=None)
    assert code == 2
    assert stored_keys(env) == []


def test_progress_reports_pages_items_throttles_and_retries(
    emu: RunningEmulator, base_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    emu.set_faults("prices:429(1)@calls=2;prices:500@calls=4")
    assert PRICE.run(emu.url, base_env)[0] == 0
    final = [line for line in capfd.readouterr().err.splitlines() if "price pages" in line][-1]
    assert "price pages 7/7 (100.0%)" in final
    assert "items=43" in final
    assert "retries=2" in final
    assert "throttles=1" in final


# --- issue 12: the list as Azure really pages it ----------------------------------------------------------


@pytest.fixture(scope="module")
def wide_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wide_catalog(tmp_path_factory.mktemp("wide") / "wide.csv")


@pytest.fixture(scope="module", params=[1000, 100], ids=["pages-of-1000", "pages-of-100"])
def wide_emulator(request: pytest.FixtureRequest, wide_catalog: Path) -> Iterator[RunningEmulator]:
    """~1,500 items in the real shapes, paged by 1000 (today's size) or 100 (the older documented size)."""
    with running_emulator(catalog=wide_catalog, page_size=request.param) as emu:
        price_items_of(emu.state.catalog)  # built before the first (timed) request
        yield emu


@pytest.fixture
def wide(wide_emulator: RunningEmulator) -> RunningEmulator:
    return cleaned(wide_emulator)


def test_the_real_shapes_give_exactly_the_emulator_truth(wide: RunningEmulator, wide_catalog: Path,
                                                         tmp_path: Path) -> None:
    catalog = load_catalog(wide_catalog)
    frame = collect(wide.url, tmp_path)
    pd.testing.assert_frame_equal(frame, catalog.expected_prices())
    # sizes whose only Linux on-demand meter is non-primary keep their on-demand price
    items = price_items_of(wide.state.catalog).items
    od = items[~items["productName"].str.contains("Windows|Cloud ?Services|Dedicated ?Host")
               & ~items["skuName"].str.contains("Spot|Low Priority") & (items["type"] == "Consumption")
               & items["effectiveEndDate"].isna() & (items["retailPrice"] > 0)]
    lone = od.groupby(["armRegionName", "armSkuName"])["isPrimaryMeterRegion"].any()
    lone = lone[~lone].index
    assert len(lone) > 0
    got = frame.assign(arm=frame["InstanceTier"] + "_" + frame["InstanceType"]).set_index(["Region", "arm"])
    assert got.loc[list(lone), "OndemandPrice"].notna().all()


@pytest.mark.parametrize("spec", ["prices:nolink@calls=1", "prices:nolink@calls=3", "prices:nolink"],
                         ids=["first-page", "mid-list", "every-page"])
def test_a_full_page_without_its_link_still_gives_the_whole_list(
    spec: str, wide: RunningEmulator, wide_catalog: Path, base_env: dict[str, str],
    capfd: pytest.CaptureFixture[str]
) -> None:
    wide.set_faults(spec)
    code, env = PRICE.run(wide.url, base_env, SPOTLAKE_PRICE_WORKERS="1", SPOTLAKE_HTTP_TIMEOUT="10")
    assert code == 0
    pd.testing.assert_frame_equal(PRICE.stored(env), load_catalog(wide_catalog).expected_prices())
    err = capfd.readouterr().err
    assert "without a NextPageLink" in err or "no NextPageLink" in err


@pytest.mark.parametrize("spec", ["prices:nolink@calls=1;prices:500", "prices:nolink@calls=3;prices:503@calls=4,5,6,7",
                                  "prices:nolink@calls=1;prices:empty@calls=2,3,4,5"],
                         ids=["first-page-then-errors", "mid-list-then-errors", "first-page-then-empty-pages"])
def test_a_list_whose_end_cannot_be_proven_fails_and_writes_nothing(
    spec: str, wide: RunningEmulator, base_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    wide.set_faults(spec)
    code, env = PRICE.run(wide.url, base_env, max_attempts=3, SPOTLAKE_PRICE_WORKERS="1", SPOTLAKE_HTTP_TIMEOUT="10")
    assert code == 1
    assert stored_keys(env) == []
    assert "[price]" in capfd.readouterr().err


@pytest.mark.parametrize("page_size", [7, 43])
def test_a_short_first_page_without_its_link_is_confirmed_before_it_is_the_whole_list(
    page_size: int, base_env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    """A page size that is not a documented one (7) with the first link dropped: the offset after page 1
    has items, so page 1 is fetched again and paging goes on; the whole list (43 items in one page) costs
    one empty probe."""
    with running_emulator(catalog=EDGE_CATALOG, page_size=page_size, faults="prices:nolink@calls=1") as emu:
        code, env = PRICE.run(emu.url, base_env, SPOTLAKE_PRICE_WORKERS="1")
        assert code == 0
    pd.testing.assert_frame_equal(PRICE.stored(env), load_catalog(EDGE_CATALOG).expected_prices())
    err = capfd.readouterr().err
    assert ("re-fetching page 1" in err) == (page_size == 7)


def test_a_short_first_page_that_keeps_coming_without_its_link_fails_and_writes_nothing(
    base_env: dict[str, str]
) -> None:
    with running_emulator(catalog=EDGE_CATALOG, page_size=7, faults="prices:nolink") as emu:
        code, env = PRICE.run(emu.url, base_env, max_attempts=3, SPOTLAKE_PRICE_WORKERS="1")
        assert code == 1
    assert stored_keys(env) == []
