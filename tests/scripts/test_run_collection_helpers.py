"""The Python helpers of run_collection.sh, called directly: slot and settings probe, SPS handoff check,
lease message, memory sampler, monitoring objects, IMDSv2 lookup, run summary."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from bench.modload import load_module
from bench.reliability.script_runner import closed_port
from tests.scripts.support import imds_stand_in
from utils.constants import monitoring_key, sps_key
from utils.errors import RunFailed, UsageError
from utils.lease import acquire
from utils.settings import load_settings
from utils.store import LocalStore
from utils.store_io import read_csv_gz, write_json

probe = load_module("scripts/settings_probe.py")
run_lease = load_module("scripts/run_lease.py")
sampler = load_module("scripts/sample_memory.py")
monitoring = load_module("scripts/store_monitoring.py")
summary = load_module("scripts/run_summary.py")

SLOT = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)


# ---------------------------------------------------------------- settings_probe.py


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-13 13:00", "2025-12-13T13:00:00Z"),
        ("2025-12-13T13:07", "2025-12-13T13:00:00Z"),
        ("2025-12-13T13:19:59", "2025-12-13T13:10:00Z"),
        ("2025-12-13T13:00:00Z", "2025-12-13T13:00:00Z"),
        ("2025-12-13T22:05:00+09:00", "2025-12-13T13:00:00Z"),
    ],
)
def test_every_accepted_timestamp_form_gives_the_canonical_slot(text: str, expected: str) -> None:
    assert probe.canonical_slot(text) == expected


def test_no_timestamp_means_now_floored_to_ten_minutes() -> None:
    slot = datetime.strptime(probe.canonical_slot(None), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert slot.minute % 10 == 0
    assert 0 <= (datetime.now(UTC) - slot).total_seconds() < 660


def test_a_bad_timestamp_is_a_usage_error_naming_the_accepted_forms() -> None:
    with pytest.raises(UsageError, match="accepted forms"):
        probe.canonical_slot("yesterday")


def test_the_env_probe_prints_every_key_once_on_its_own_line(tmp_path: Path) -> None:
    settings = load_settings({"SPOTLAKE_STORE": str(tmp_path / "s"), "SPS_KEY_FILE": str(tmp_path / "k.txt")})
    text = probe.render_env(probe.orchestrator_env(settings))
    lines = dict(line.split("=", 1) for line in text.splitlines())
    assert list(lines) == list(probe.ENV_KEYS)
    assert lines["STORE"] == str(tmp_path / "s")
    assert lines["EMULATOR_ENABLED"] == "1"  # local store, no credential
    assert lines["EMULATOR_URL"] == ""
    assert lines["SPS_KEY_FILE"] == str(tmp_path / "k.txt")
    assert lines["LEASE_TTL"] == "570"


def test_the_env_probe_refuses_a_value_with_a_line_break(tmp_path: Path) -> None:
    settings = load_settings({"SPOTLAKE_STORE": str(tmp_path / "s")})
    odd = dataclasses.replace(settings, sps_key_file=Path("/tmp/a\nEMULATOR_URL=http://evil"))
    with pytest.raises(UsageError, match="line break"):
        probe.orchestrator_env(odd)


def test_the_env_probe_exits_2_on_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.main(["env"], env={"SPOTLAKE_STORE": "ftp://x"}) == 2
    assert "unsupported scheme" in capsys.readouterr().err


def test_the_handoff_key_of_this_slot_is_accepted_when_its_object_exists(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    key = sps_key(SLOT, 5)
    store.put_bytes(key, b"parquet")
    assert probe.checked_sps_key(key + "\n", "2025-12-13T13:00:00Z", store) == key


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("rawdata/azure/spot_price/2025/12/13/13-00_spot_price.parquet", "does not hold a raw SPS key"),
        (sps_key(datetime(2025, 12, 13, 12, 50, tzinfo=UTC), 5), "names slot 2025-12-13T12:50:00Z"),
        (sps_key(SLOT, 10), "not in the store"),
    ],
)
def test_a_stale_or_wrong_handoff_key_is_refused(tmp_path: Path, text: str, reason: str) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes(sps_key(SLOT, 5), b"parquet")
    store.put_bytes(sps_key(datetime(2025, 12, 13, 12, 50, tzinfo=UTC), 5), b"parquet")
    with pytest.raises(RunFailed, match=reason):
        probe.checked_sps_key(text, "2025-12-13T13:00:00Z", store)


def test_the_sps_key_command_exits_1_without_a_handoff_file(tmp_path: Path) -> None:
    env = {"SPOTLAKE_STORE": str(tmp_path / "s"), "SPS_KEY_FILE": str(tmp_path / "absent.txt")}
    assert probe.main(["sps-key", "--slot", "2025-12-13T13:00:00Z"], env=env) == 1


# ---------------------------------------------------------------- run_lease.py


def test_the_held_lease_message_names_the_holder_and_its_expiry(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    acquire(store, "run", 600, holder="host:1:abc", clock=lambda: 1765630800.0)
    message = run_lease.held_message(store, "run")
    assert message.startswith("another run holds the lease 'run' (host:1:abc) until 2025-12-13T13:10:00Z")


def test_acquire_then_release_by_holder_id_frees_the_lease(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"SPOTLAKE_STORE": str(tmp_path / "s"), "SPOTLAKE_AZURE_EMULATOR": "1"}
    assert run_lease.main(["acquire"], env=env) == 0
    holder = capsys.readouterr().out.strip()
    assert run_lease.main(["acquire"], env=env) == 1  # held
    assert run_lease.main(["release", "--holder", "someone-else"], env=env) == 0
    assert (tmp_path / "s" / "locks/azure/run.json").exists()  # not theirs to release
    assert run_lease.main(["release", "--holder", holder], env=env) == 0
    assert not (tmp_path / "s" / "locks/azure/run.json").exists()


# ---------------------------------------------------------------- sample_memory.py


def test_targets_parse_from_component_equals_pid() -> None:
    assert sampler.parse_targets(["sps=12", "if=34"]) == {"sps": 12, "if": 34}
    for bad in ("sps", "sps=", "=12", "sps=x"):
        with pytest.raises(ValueError, match="COMPONENT=PID"):
            sampler.parse_targets([bad])


def test_a_sample_has_one_row_per_live_component_and_drops_the_dead() -> None:
    targets = {"sps": 1, "if": 2, "price": 3}
    rows = sampler.sample_once(targets, {1: 100.0, 2: None, 3: 50.5}.get, "t")
    assert rows == [("t", "sps", 100.0), ("t", "price", 50.5)]
    assert targets == {"sps": 1, "price": 3}


def test_tree_rss_counts_a_process_and_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", 'import time; b = b"x" * (40 * 1024 * 1024); time.sleep(30)'])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            mine = sampler.tree_rss_mb(os.getpid())
            alone = sampler.tree_rss_mb(child.pid)
            if alone is not None and alone >= 40:
                break
            time.sleep(0.1)
        assert alone is not None and alone >= 40
        assert mine is not None and mine >= alone
    finally:
        child.kill()
        child.wait()
    assert sampler.tree_rss_mb(child.pid) is None


def test_the_sampler_cli_writes_samples_until_its_process_exits(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    out = tmp_path / "memory.csv"
    started = time.monotonic()
    command = [sys.executable, "scripts/sample_memory.py", "--out", str(out), "--interval", "0.1"]
    command.append(f"sleeper={child.pid}")
    subprocess.run(command, check=True, timeout=30, cwd=Path(__file__).resolve().parents[2])
    child.wait()
    assert time.monotonic() - started < 10
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["time", "component", "rss_mb"]
    assert len(frame) >= 3
    assert set(frame["component"]) == {"sleeper"}


def test_sigterm_ends_the_samplers_sleep_at_once_and_keeps_its_samples(tmp_path: Path) -> None:
    # The orchestrator stops the sampler with SIGTERM as soon as the sampled processes are reaped; with a
    # 30 s interval, only an interrupted sleep lets it exit within a second.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    out = tmp_path / "memory.csv"
    command = [sys.executable, "scripts/sample_memory.py", "--out", str(out), "--interval", "30", f"c={child.pid}"]
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 20
        while (not out.exists() or len(out.read_text().splitlines()) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)  # the first sample is written: the sampler is now in its long sleep
        stopped = time.monotonic()
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - stopped < 1.0
    finally:
        proc.kill()
        child.kill()
        child.wait()
    assert pd.read_csv(out)["component"].tolist() == ["c"]


# ---------------------------------------------------------------- store_monitoring.py


def test_timings_lines_become_phase_rows_with_durations() -> None:
    frame = monitoring.parse_timings("collect_sps 1765630800.25 1765630812.75 0\nmerge 1765630813 1765630815.5 1\n")
    assert frame.to_dict("records") == [
        {"phase": "collect_sps", "started_at": "2025-12-13T13:00:00.250Z", "seconds": 12.5, "exit_code": 0},
        {"phase": "merge", "started_at": "2025-12-13T13:00:13.000Z", "seconds": 2.5, "exit_code": 1},
    ]


@pytest.mark.parametrize("line", ["merge 1 2", "merge a b 0", "merge 1 2 x", "merge 1 2 0 extra"])
def test_a_malformed_timings_line_is_a_usage_error(line: str) -> None:
    with pytest.raises(UsageError, match="PHASE START END EXIT_CODE"):
        monitoring.parse_timings(line)


@given(st.lists(st.tuples(st.sampled_from(["sps", "if", "price", "merge"]), st.floats(0, 1e5)), max_size=50))
def test_the_peak_per_component_is_the_largest_sample(samples: list[tuple[str, float]]) -> None:
    frame = pd.DataFrame([("t", c, m) for c, m in samples], columns=["time", "component", "rss_mb"])
    peaks = monitoring.peak_memory_mb(frame)
    assert set(peaks) == {c for c, _ in samples}
    for component, peak in peaks.items():
        assert peak == max(m for c, m in samples if c == component)


def test_the_instance_type_comes_from_imdsv2_with_a_token() -> None:
    with imds_stand_in("c7g.xlarge") as url, requests.Session() as session:
        assert monitoring.instance_type_from_imds(url, session) == "c7g.xlarge"


def test_without_imds_the_instance_type_is_unknown_at_once() -> None:
    started = time.monotonic()
    with requests.Session() as session:
        assert monitoring.instance_type_from_imds(f"http://127.0.0.1:{closed_port()}", session) == "unknown"
    assert time.monotonic() - started < 3


def test_an_imds_answer_that_is_not_an_instance_type_is_unknown() -> None:
    with imds_stand_in("<html>captive portal</html>") as url, requests.Session() as session:
        assert monitoring.instance_type_from_imds(url, session) == "unknown"


def test_the_monitoring_command_stores_three_objects_under_the_slot(tmp_path: Path) -> None:
    (tmp_path / "timings").write_text("collect_sps 1765630800 1765630810 0\ntotal 1765630800 1765630820 0\n")
    (tmp_path / "memory.csv").write_text("time,component,rss_mb\nt1,sps,100.5\nt2,sps,120.0\nt2,if,80.0\n")
    with imds_stand_in("m7g.large") as url:
        env = {"SPOTLAKE_STORE": str(tmp_path / "s"), "SPOTLAKE_IMDS_URL": url}
        args = ["--slot", "2025-12-13T13:00:00Z", "--timings", str(tmp_path / "timings"),
                "--memory", str(tmp_path / "memory.csv")]  # fmt: skip
        assert monitoring.main(args, env=env) == 0
    store = LocalStore(tmp_path / "s")
    assert store.get_bytes(monitoring_key("instanceType", SLOT, "instance_type.txt")) == b"m7g.large\n"
    memory = read_csv_gz(store, monitoring_key("memory", SLOT, "memory.csv.gz"))
    assert monitoring.peak_memory_mb(memory) == {"sps": 120.0, "if": 80.0}
    times = read_csv_gz(store, monitoring_key("executionTime", SLOT, "execution_time.csv.gz"))
    assert times[["phase", "seconds"]].values.tolist() == [["collect_sps", 10.0], ["total", 20.0]]
    assert times["peak_rss_mb"].tolist()[0] == 120.0
    assert pd.isna(times["peak_rss_mb"].tolist()[1])


# ---------------------------------------------------------------- run_summary.py


def test_the_summary_reports_this_slots_merge_and_sps_figures(tmp_path: Path) -> None:
    settings = load_settings({"SPOTLAKE_STORE": str(tmp_path / "s")})
    store = LocalStore(tmp_path / "s")
    write_json(store, summary.MERGE_SUMMARY_KEY, {"slot": "2025-12-13T13:00:00Z", "desired_count": 5, "rows": 120,
               "changes": 7, "price_slot": "2025-12-13T12:50:00Z", "if_slot": "2025-12-13T13:00:00Z",
               "timeseries_records": 7})  # fmt: skip
    write_json(store, summary.SPS_LAST_RUN_KEY, {"slot": "2025-12-13T13:00:00Z", "desired_count": 5,
               "planned_calls": 30, "calls_made": 28, "calls_not_made": 2, "http_429": 3, "partial": True})  # fmt: skip
    text = summary.render_summary(store, settings, SLOT, {"sps": "0", "if": "0", "price": "1", "merge": "0"}, None,
                                  failures=["collector price exited with 1"])  # fmt: skip
    assert "SpotLake Azure run 2025-12-13T13:00:00Z: FAILED (sps=0 if=0 price=1 merge=0)\n" in text
    assert "\n  cause: collector price exited with 1\n" in text
    assert "merge: 120 rows, 7 changes, desired count 5, 7 time-series records (fallback: price from slot " in text
    assert "SPS calls: 28 made, 2 not made of 30 planned, 3 HTTP 429; desired count 5, partial sweep" in text
    assert f"raw price        {store.describe('rawdata/azure/spot_price/2025/12/13/13-00_spot_price.parquet')}" in text
    assert "(missing)" in text
    assert "durations: not recorded" in text


def test_the_summary_does_not_pass_off_an_older_slots_figures_as_this_ones(tmp_path: Path) -> None:
    settings = load_settings({"SPOTLAKE_STORE": str(tmp_path / "s")})
    store = LocalStore(tmp_path / "s")
    write_json(store, summary.MERGE_SUMMARY_KEY, {"slot": "2025-12-13T12:50:00Z", "rows": 1, "changes": 1})
    text = summary.render_summary(store, settings, SLOT, {"merge": "skipped"}, None)
    assert "merge: not written for this slot (last one is for 2025-12-13T12:50:00Z)" in text
    assert "SPS calls: not written" in text
    assert ": OK" in text


@pytest.mark.parametrize(
    ("statuses", "failures", "verdict"),
    [
        ({"sps": "1", "merge": "skipped"}, ["collector sps exited with 1"], "FAILED"),  # never "OK" (issue 13)
        ({"sps": "0", "merge": "0"}, ["storing the monitoring objects failed (exit 1)"], "FAILED"),
        ({"sps": "0", "merge": "0"}, [], "OK"),
    ],
)
def test_the_verdict_is_the_runs_outcome_not_a_guess_from_the_statuses(
    statuses: dict[str, str], failures: list[str], verdict: str
) -> None:
    lines = summary.verdict_lines(SLOT, statuses, failures)
    assert lines[0].startswith(f"SpotLake Azure run 2025-12-13T13:00:00Z: {verdict} (")
    assert lines[1:] == [f"  cause: {failure}" for failure in failures]


def test_emulator_stats_are_summarised_per_api_with_status_counts() -> None:
    stats = {"sps": {"calls": 12, "status": {"200": 10, "429": 2}, "by_subscription_location": {}},
             "prices": {"calls": 3, "status": {"200": 3}}, "token": {"calls": 0, "status": {}}}  # fmt: skip
    assert summary.describe_emulator(stats) == "emulator: prices 3 calls (200: 3); sps 12 calls (200: 10, 429: 2)"
