"""Bad-input corpus (issue 8 item 3): each case gets a clear message and a defined outcome — repair, skip
with a logged reason, exit 1 (the run fails and alerts) or exit 2 (bad usage/input) — never a traceback, a
secret in the log, or silent wrong data.

The test id of each case reads ``<input> -> <outcome>``. The entry points run as the orchestrator runs them
(by path, in a subprocess) against a local store, with the Azure emulator (tiny catalog, clock at the slot).
A module fixture commits slot S0 and collects slot S1; each case copies that store, breaks one input, and
runs one entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from bench.reliability.harness import PAGE_SIZE, S0, S1, tiny_catalog_text
from bench.reliability.script_runner import capture_server, run_script, script_env
from emulator.testing import RunningEmulator, running_emulator
from merge.snapshot_keys import snapshot_key
from utils.azure_api.auth import EMULATOR_CLIENT_ID, EMULATOR_TENANT, emulator_subscription_ids
from utils.constants import (
    LATEST_JSON_KEY,
    LATEST_STATE_KEY,
    QUERY_SELECTOR_KEY,
    SPS_METADATA_KEY,
    SPS_REQUEST_PLAN_KEY,
    if_key,
    price_key,
    sps_saved_key,
)
from utils.timestamps import slot_iso

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bad_input")]  # one worker builds the baseline store

REPO = Path(__file__).resolve().parents[2]
SECRET = "bad-input-client-secret-Zq9x"  # the service principal secret: must never be printed
ACCEPTED_FORM = "2025-12-13T13:00:00Z"  # every usage message lists the accepted forms, this one among them


@dataclass
class Observed:
    returncode: int
    stderr: str

    def assert_clean_message(self) -> None:
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        assert SECRET not in self.stderr


def entry_env(store: Path, emulator_url: str, handoff: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"HOME", "LANG", "LC_ALL", "PATH", "TMPDIR"}}
    return {
        **keep,
        "SPOTLAKE_STORE": str(store),
        "SPOTLAKE_AZURE_EMULATOR": "1",
        "SPOTLAKE_EMULATOR_URL": emulator_url,
        "AZURE_TENANT_ID": EMULATOR_TENANT,
        "AZURE_CLIENT_ID": EMULATOR_CLIENT_ID,
        "AZURE_CLIENT_SECRET": SECRET,
        "AZURE_SUBSCRIPTION_IDS": ",".join(emulator_subscription_ids(12)),
        "SPOTLAKE_CLOCK": "slot",
        "SPOTLAKE_ALERT_OWNER": "orchestrator",
        "SPS_KEY_FILE": str(handoff),
        "SPOTLAKE_RETRY_BASE_DELAY": "0.01",
        "SPOTLAKE_RETRY_MAX_DELAY": "0.05",
        "SPOTLAKE_RETRY_MAX_AFTER": "0.05",
        "SPOTLAKE_HTTP_TIMEOUT": "5",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def run_entry(relpath: str, *args: str, env: dict[str, str]) -> Observed:
    proc = subprocess.run([sys.executable, str(REPO / relpath), *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=180, check=False)  # fmt: skip
    return Observed(proc.returncode, proc.stderr)


@dataclass
class Baseline:
    """A store with S0 committed and S1's raw datasets collected (not merged), and the emulator."""

    root: Path
    emulator: RunningEmulator
    sps_key_s1: str

    def copy(self, tmp_path: Path) -> tuple[Path, dict[str, str]]:
        store = tmp_path / "store"
        shutil.copytree(self.root / "store", store)
        handoff = tmp_path / "sps_key.txt"
        handoff.write_text(self.sps_key_s1 + "\n")
        return store, entry_env(store, self.emulator.url, handoff)

    def at(self, slot: datetime) -> None:
        self.emulator.reset()
        self.emulator.set_faults(None)
        self.emulator.set_now(slot)


def collect(env: dict[str, str], slot_text: str) -> None:
    procs = [subprocess.Popen([sys.executable, str(REPO / f"{name}/collect_{name}.py"), "--timestamp", slot_text],
                              env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for name in ("sps", "if", "price")]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-3000:]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Baseline]:
    root = tmp_path_factory.mktemp("bad-input")
    catalog = root / "tiny.csv"
    catalog.write_text(tiny_catalog_text())
    with running_emulator(catalog=catalog, page_size=PAGE_SIZE) as emu:
        handoff = root / "sps_key.txt"
        env = entry_env(root / "store", emu.url, handoff)
        base = Baseline(root, emu, "")
        base.at(S0)
        collect(env, slot_iso(S0))
        merged = run_entry("merge/merge_data.py", "--sps_key", handoff.read_text().strip(), env=env)
        assert merged.returncode == 0, merged.stderr[-3000:]
        base.at(S1)
        collect(env, slot_iso(S1))
        base.sps_key_s1 = handoff.read_text().strip()
        yield base


def read(store: Path, key: str) -> bytes:
    return (store / key).read_bytes()


def write(store: Path, key: str, data: bytes) -> None:
    (store / key).write_bytes(data)


def truncate(store: Path, key: str) -> None:
    data = read(store, key)
    write(store, key, data[: len(data) // 2])


# --- 1. malformed timestamps, at every entry point ---------------------------------------------------------
BAD_TIMESTAMPS = ("2025-13-40 00:00", "yesterday", "2025-12-13T13:00:00+25:00")
ENTRY_POINTS = ("sps/collect_sps.py", "if/collect_if.py", "price/collect_price.py", "merge/merge_data.py")


@pytest.mark.parametrize("timestamp", BAD_TIMESTAMPS)
def test_a_malformed_timestamp_to_the_script_exits_2_naming_the_accepted_forms_without_an_alert(
    timestamp: str, tmp_path: Path
) -> None:
    with capture_server() as hook:
        env = script_env({"SPOTLAKE_STORE": str(tmp_path / "store"), "SPOTLAKE_AZURE_EMULATOR": "1",
                          "error_notification_slack_webhook_url": hook.url})  # fmt: skip
        run = run_script(env, timestamp, timeout=60, cwd=tmp_path)
        alerts = list(hook.bodies)
    assert run.returncode == 2
    assert ACCEPTED_FORM in run.stderr and "Traceback" not in run.stderr
    assert alerts == []
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.parquet"))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_malformed_timestamp_to_each_collector_and_the_merge_exits_2_naming_the_accepted_forms(
    entry: str, baseline: Baseline, tmp_path: Path
) -> None:
    store, env = baseline.copy(tmp_path)
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    for timestamp in BAD_TIMESTAMPS[:2]:
        observed = run_entry(entry, "--timestamp", timestamp, env=env)
        assert observed.returncode == 2, observed.stderr[-2000:]
        assert ACCEPTED_FORM in observed.stderr
        observed.assert_clean_message()
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before  # nothing written


# --- 2. corrupt objects in the store ---------------------------------------------------------------------
@dataclass(frozen=True)
class StoreCase:
    name: str
    outcome: str  # repair (warning) | rewritten (not read, overwritten) | fallback | exit 1 | exit 2
    entry: str  # sps | merge
    key: str
    damage: str  # garbage | truncate | wrong-columns | empty-list
    message: str  # what the log must say (a fragment)


GARBAGE = b"\x00\x01not what you think {]: -"
SPS_STATE_CASES = [
    StoreCase("sps_metadata.yaml garbage", "repair", "sps", SPS_METADATA_KEY, "garbage", "treating it as missing"),
    StoreCase("sps_metadata.yaml truncated", "repair", "sps", SPS_METADATA_KEY, "truncate", "metadata"),
    StoreCase("call_history.json garbage", "repair", "sps", sps_saved_key("call_history.json"), "garbage",
              "call_history.json"),
    StoreCase("region_map.json truncated", "repair", "sps", sps_saved_key("region_map.json"), "truncate",
              "region_map.json"),
    StoreCase("request_plan.parquet truncated", "repair", "sps", SPS_REQUEST_PLAN_KEY, "truncate",
              "request plan is unusable"),
    StoreCase("request_plan.parquet wrong columns", "repair", "sps", SPS_REQUEST_PLAN_KEY, "wrong-columns",
              "request plan is unusable"),
]  # fmt: skip
MERGE_CASES = [
    # The merge starts from the newest state snapshot before the slot; latest_state.parquet is only written.
    StoreCase("latest_state.parquet truncated (snapshot intact)", "rewritten", "merge", LATEST_STATE_KEY,
              "truncate", "base=latest_data/azure/states/2025/12/13/13-00.parquet"),
    StoreCase("state snapshot truncated", "exit 2", "merge", snapshot_key(S0), "truncate",
              "corrupt object latest_data/azure/states/2025/12/13/13-00.parquet"),
    StoreCase("query_selector.json garbage", "repair", "merge", QUERY_SELECTOR_KEY, "garbage",
              "query selector unreadable, rebuilding it"),
    StoreCase("latest_azure.json garbage", "rewritten", "merge", LATEST_JSON_KEY, "garbage", ""),
    # docs/contract.md 8: price or IF unavailable -> the newest earlier raw dataset (<= 24 h), recorded in the summary.
    StoreCase("raw price Parquet truncated", "fallback", "merge", price_key(S1), "truncate", "spot_price"),
    StoreCase("raw price Parquet wrong columns", "fallback", "merge", price_key(S1), "wrong-columns", "spot_price"),
    StoreCase("raw IF Parquet truncated", "fallback", "merge", if_key(S1), "truncate", "spot_if"),
    StoreCase("raw SPS Parquet truncated", "exit 2", "merge", "<sps>", "truncate", "sps"),
    StoreCase("raw SPS Parquet wrong columns", "exit 2", "merge", "<sps>", "wrong-columns", "sps"),
]  # fmt: skip


def damage(store: Path, key: str, how: str) -> None:
    if how == "garbage":
        write(store, key, GARBAGE)
    elif how == "truncate":
        truncate(store, key)
    elif how == "wrong-columns":
        frame = pd.read_parquet(store / key)
        frame.rename(columns={frame.columns[0]: "Unexpected"}).to_parquet(store / key)
    else:
        raise ValueError(how)


def _outcome(observed: Observed, store: Path, key: str) -> str:
    if observed.returncode != 0:
        return f"exit {observed.returncode}"
    summary_path = store / "latest_data/azure/last_merge_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if summary.get("slot") == slot_iso(S1) and slot_iso(S0) in (summary.get("price_slot"), summary.get("if_slot")):
        return "fallback" if " WARNING " in observed.stderr else "fallback without a warning"
    if " WARNING " in observed.stderr:
        return "repair"
    damaged = (store / key).read_bytes()
    return "rewritten" if damaged not in (GARBAGE,) and _readable(store / key) else "no warning, still damaged"


def _readable(path: Path) -> bool:
    if path.suffix == ".parquet":
        try:
            return not pd.read_parquet(path).empty
        except (OSError, ValueError):
            return False
    try:
        return bool(json.loads(path.read_bytes()))
    except ValueError:
        return False


@pytest.mark.parametrize("case", SPS_STATE_CASES + MERGE_CASES, ids=lambda c: f"{c.name} -> {c.outcome}")
def test_a_corrupt_object_in_the_store_is_repaired_skipped_or_fails_with_a_clear_message(
    case: StoreCase, baseline: Baseline, tmp_path: Path
) -> None:
    store, env = baseline.copy(tmp_path)
    key = baseline.sps_key_s1 if case.key == "<sps>" else case.key
    state_before = read(store, LATEST_STATE_KEY)
    damage(store, key, case.damage)
    if case.entry == "sps":
        baseline.at(S1)
        observed = run_entry("sps/collect_sps.py", "--timestamp", slot_iso(S1), env=env)
    else:
        observed = run_entry("merge/merge_data.py", "--sps_key", baseline.sps_key_s1, env=env)
    observed.assert_clean_message()
    assert _outcome(observed, store, key) == case.outcome, observed.stderr[-3000:]
    assert case.message in observed.stderr, observed.stderr[-3000:]
    if case.outcome.startswith("exit"):
        assert read(store, LATEST_STATE_KEY) == state_before  # a failed merge leaves the state as it was


# --- 3. the handoff file ---------------------------------------------------------------------------------
HANDOFF_CASES = {
    "another slot's key -> exit 1": ("{s0}", "names slot 2025-12-13T13:00:00Z"),
    "a missing object -> exit 1": ("rawdata/azure/sps/2025/12/13/13-10_sps_40.parquet", "not in the store"),
    "garbage -> exit 1": ("\x00garbage ../../etc/passwd", "does not hold a raw SPS key"),
    "empty -> exit 1": ("", "empty"),
}


@pytest.mark.parametrize("case", list(HANDOFF_CASES))
def test_a_bad_handoff_file_is_refused_so_the_merge_is_skipped(case: str, baseline: Baseline, tmp_path: Path) -> None:
    store, env = baseline.copy(tmp_path)
    content, message = HANDOFF_CASES[case]
    s0_key = next(str(p.relative_to(store)) for p in store.rglob("13-00_sps_*.parquet"))
    Path(env["SPS_KEY_FILE"]).write_text(content.format(s0=s0_key))
    observed = run_entry("scripts/settings_probe.py", "sps-key", "--slot", slot_iso(S1), env=env)
    observed.assert_clean_message()
    assert observed.returncode == 1
    assert message in observed.stderr


def test_the_merge_given_a_key_of_a_missing_object_fails_clearly_and_keeps_the_state(
    baseline: Baseline, tmp_path: Path
) -> None:
    store, env = baseline.copy(tmp_path)
    state_before = read(store, LATEST_STATE_KEY)
    observed = run_entry("merge/merge_data.py", "--sps_key", "rawdata/azure/sps/2025/12/13/13-10_sps_40.parquet",
                         env=env)  # fmt: skip
    observed.assert_clean_message()
    assert observed.returncode in (1, 2)
    assert "13-10_sps_40.parquet" in observed.stderr
    assert read(store, LATEST_STATE_KEY) == state_before


# --- 4. unknown and missing fields in API responses (emulator schema faults) -----------------------------
SCHEMA_CASES = {
    "prices extra fields -> same output": ("price", "prices:extra", "same"),
    "resource_graph extra fields -> same output": ("if", "resource_graph:extra", "same"),
    "skus extra fields -> same output": ("if", "skus:extra", "same"),
    "sps extra fields -> same output": ("sps", "sps:extra", "same"),
    "token extra fields -> same output": ("if", "token:extra", "same"),
    "prices missing retailPrice -> exit 1": ("price", "prices:missing", "exit 1"),
    "resource_graph missing evictionRate -> IF missing, warned": ("if", "resource_graph:missing", "warned"),
    "skus missing family -> InstanceFamily missing, warned": ("if", "skus:missing", "warned"),
    "sps missing score -> exit 1": ("sps", "sps:missing", "exit 1"),
    "token missing access_token -> exit 1": ("if", "token:missing", "exit 1"),
}


@pytest.mark.parametrize("case", list(SCHEMA_CASES))
def test_unknown_fields_are_ignored_and_missing_fields_fail_the_collector_clearly(
    case: str, baseline: Baseline, tmp_path: Path
) -> None:
    collector, spec, expected = SCHEMA_CASES[case]
    store, env = baseline.copy(tmp_path)
    raw = {p.relative_to(store): p.read_bytes() for p in store.rglob(f"*13-10_*{collector}*.parquet")}
    for path in list(raw):
        (store / path).unlink()
    baseline.at(S1)
    baseline.emulator.set_faults(spec)
    observed = run_entry(f"{collector}/collect_{collector}.py", "--timestamp", slot_iso(S1), env=env)
    baseline.emulator.set_faults(None)
    observed.assert_clean_message()
    if expected == "same":
        assert observed.returncode == 0, observed.stderr[-3000:]
        again = {p.relative_to(store): p.read_bytes() for p in store.rglob(f"*13-10_*{collector}*.parquet")}
        assert again == raw
    elif expected == "warned":
        # The field is published as missing (NaN / "N/A"), never guessed, and the log says why.
        assert observed.returncode == 0, observed.stderr[-3000:]
        assert " WARNING " in observed.stderr
        frame = pd.read_parquet(next(store.rglob(f"*13-10_*{collector}*.parquet")))
        column = "IF" if "resource_graph" in spec else "InstanceFamily"
        assert (frame[column].isna() | (frame[column] == "")).all()
    else:
        assert observed.returncode == 1, observed.stderr[-3000:]
        assert " ERROR " in observed.stderr
        assert not any(store.rglob(f"*13-10_*{collector}*.parquet"))  # no raw object with wrong data


# --- 5. catalogs -------------------------------------------------------------------------------------------
def test_an_empty_catalog_fails_the_run_with_one_alert_and_never_publishes_an_empty_dataset(
    baseline: Baseline, tmp_path: Path
) -> None:
    store, _ = baseline.copy(tmp_path)
    state_before, json_before = read(store, LATEST_STATE_KEY), read(store, LATEST_JSON_KEY)
    empty = tmp_path / "empty.csv"
    empty.write_text("Region,InstanceType,OndemandPrice,SpotPrice\n")
    with capture_server() as hook:
        env = script_env({"SPOTLAKE_STORE": str(store), "SPOTLAKE_AZURE_EMULATOR": "1",
                          "SPOTLAKE_EMULATOR_CATALOG": str(empty), "SPS_KEY_FILE": str(tmp_path / "k.txt"),
                          "error_notification_slack_webhook_url": hook.url, "SPOTLAKE_RETRY_BASE_DELAY": "0.01",
                          "SPOTLAKE_RETRY_MAX_DELAY": "0.05"})  # fmt: skip
        run = run_script(env, "2025-12-13T13:20:00Z", timeout=180, cwd=tmp_path)
        alerts = list(hook.bodies)
    assert run.returncode == 1, run.stderr[-4000:]
    assert len(alerts) == 1
    assert read(store, LATEST_STATE_KEY) == state_before
    assert read(store, LATEST_JSON_KEY) == json_before
    assert json.loads(json_before)  # the good dataset is still the public one


HUGE_SKIP = (
    "world catalog x2 sizes (60,594 offers, 1,746 sizes, 59 regions): one run takes ~80 s wall on 2 cores, too "
    "slow for make test; measured by hand (see the README, Reliability): exit 0, peak RSS sps 787 MiB, if 636 MiB, "
    "price 506 MiB, merge 393 MiB, against 41 s and 460 / 401 / 344 / 264 MiB for the 1x world catalog: memory "
    "grows less than the data (remove this skip marker to run it)"
)


@pytest.mark.skip(reason=HUGE_SKIP)
def test_a_huge_catalog_runs_and_memory_stays_bounded(tmp_path: Path) -> None:
    from emulator.catalog import load_catalog

    offers = load_catalog(None, 0).offers
    doubled = pd.concat([offers, offers.assign(InstanceType=offers["InstanceType"] + "_Dup")], ignore_index=True)
    catalog = tmp_path / "world_x2.csv"
    doubled.to_csv(catalog, index=False)
    env = script_env({"SPOTLAKE_STORE": str(tmp_path / "store"), "SPOTLAKE_AZURE_EMULATOR": "1",
                      "SPOTLAKE_EMULATOR_CATALOG": str(catalog), "SPS_KEY_FILE": str(tmp_path / "k.txt")})  # fmt: skip
    run = run_script(env, "2025-12-13T13:00:00Z", timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    timings = next((tmp_path / "store").rglob("*_execution_time.csv.gz"))
    peaks = pd.read_csv(timings).dropna(subset=["peak_rss_mb"])
    assert (peaks["peak_rss_mb"] < 1536).all(), peaks.to_string()  # bounded: well under a 2 GiB Batch job
