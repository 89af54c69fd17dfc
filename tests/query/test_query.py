"""scripts/query.py against a real multi-slot run (run_collection.sh, emulator) with the SQLite and the
Parquet sink: the three verbs, the output forms, name resolution and its errors, and the spec columns the
run carried into the state, the archive and both sinks."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from bench.modload import load_module
from tests.conftest import REPO_ROOT
from tests.query.runs import SLOTS, RealRun, multi_slot_run
from utils.constants import LATEST_JSON_KEY, LATEST_STATE_KEY, archive_key
from utils.timestamps import parse_slot

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("usedata_runs")]
query = load_module("scripts/query.py")
WELL_KNOWN = {"D2s_v3": [2, 8, 0, "x64"], "NC24ads_A100_v4": [24, 220, 1, "x64"], "D2ps_v5": [2, 8, 0, "Arm64"]}


@pytest.fixture(scope="module")
def parquet_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    return multi_slot_run(tmp_path_factory.mktemp("usedata-parquet"), "parquet")


@pytest.fixture(params=["sqlite", "parquet"])
def real_run(request: pytest.FixtureRequest, sqlite_real_run: RealRun) -> RealRun:
    return sqlite_real_run if request.param == "sqlite" else request.getfixturevalue("parquet_run")


def run_query(run: RealRun, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = query.main(list(argv), env=run.env)
    out, err = capsys.readouterr()
    return code, out, err


def by_path(run: RealRun, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "scripts/query.py", *argv], cwd=REPO_ROOT, env=run.env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_history_by_display_location_or_arm_code_gives_every_slot_and_zone(real_run: RealRun, capsys) -> None:
    code, out, _ = run_query(real_run, capsys, "history", "--type", "D2s_v3", "--region", "US East", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["time"] for r in rows} == {"2025-12-13 13:00:00", "2025-12-13 13:10:00"}  # first run writes all
    assert {r["AvailabilityZone"] for r in rows} == {"1", "2", "3"}
    assert {(r["Region"], r["RegionCode"], r["SpotPrice"]) for r in rows} == {("US East", "eastus", 0.0192)}
    assert [r["DesiredCount"] for r in rows if r["time"].endswith("13:00:00")] == [1, 1, 1]
    code, same, _ = run_query(real_run, capsys, "history", "--type", "standard_d2s_v3", "--region", "EASTUS",
                              "--json")  # fmt: skip
    assert code == 0 and json.loads(same) == rows
    code, out, _ = run_query(real_run, capsys, "history", "--type", "D2s_v3", "--region", "eastus", "--zone", "2",
                             "--since", "2025-12-13 13:05", "--csv")  # fmt: skip
    frame = pd.read_csv(io.StringIO(out), dtype={"AvailabilityZone": str})
    assert code == 0 and frame[["time", "AvailabilityZone"]].values.tolist() == [["2025-12-13 13:10:00", "2"]]


def test_the_parquet_and_sqlite_histories_agree(sqlite_real_run: RealRun, parquet_run: RealRun, capsys) -> None:
    outputs = [run_query(run, capsys, "history", "--type", "D2ps_v5", "--region", "westus2", "--csv")[1]
               for run in (sqlite_real_run, parquet_run)]  # fmt: skip
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 7  # header + 2 slots x 3 zones


def test_latest_filters_and_shows_the_specs(real_run: RealRun, capsys) -> None:
    code, out, _ = run_query(real_run, capsys, "latest", "--region", "US East", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 9 and {r["Time"] for r in rows} <= {"2025-12-13 13:10:00", "2025-12-13 13:00:00"}
    for row in rows:
        assert [row["vCPUs"], row["MemoryGiB"], row["GPUs"], row["Architecture"]] == WELL_KNOWN[row["InstanceType"]]
        assert row["SpotPricePerVcpu"] == pytest.approx(row["SpotPrice"] / row["vCPUs"])
    code, out, _ = run_query(real_run, capsys, "latest", "--family", "standarddpsv5family", "--max-price", "0.0155",
                             "--csv")  # fmt: skip
    frame = pd.read_csv(io.StringIO(out), dtype={"AvailabilityZone": str})
    assert code == 0 and set(frame["RegionCode"]) == {"eastus"} and set(frame["InstanceType"]) == {"D2ps_v5"}
    code, out, _ = run_query(real_run, capsys, "latest", "--min-t3", "5", "--json")
    assert code == 0 and all(r["T3"] >= 5 for r in json.loads(out))


def test_best_ranks_the_cheapest_rows_whose_t3_or_t2_reaches_the_count(real_run: RealRun, capsys) -> None:
    code, out, _ = run_query(real_run, capsys, "best", "--count", "1", "--limit", "0", "--json")
    rows = json.loads(out)
    assert code == 0 and rows and all(r["T3"] >= 1 for r in rows)
    prices = [r["SpotPrice"] for r in rows]
    assert prices == sorted(prices)
    assert set(rows[0]) >= {"SpotPrice", "Savings", "IF", "LastProbed", "vCPUs", "MemoryGiB"}
    code, out, _ = run_query(real_run, capsys, "best", "--count", "1", "--level", "t2", "--per-vcpu", "--json")
    ranked = json.loads(out)
    assert code == 0 and len(ranked) <= 10 and all(r["T2"] >= 1 for r in ranked)
    assert [r["SpotPricePerVcpu"] for r in ranked] == sorted(r["SpotPricePerVcpu"] for r in ranked)


def test_a_filter_that_matches_nothing_says_no_rows_and_exits_0(real_run: RealRun, capsys) -> None:
    code, out, _ = run_query(real_run, capsys, "best", "--count", "50")
    assert (code, out) == (0, "no rows\n")
    code, out, err = run_query(real_run, capsys, "latest", "--max-price", "0.0001", "--json")
    assert (code, out.strip(), err.strip()) == (0, "[]", "no rows")


@pytest.mark.parametrize(("argv", "message"), [
    (["history", "--type", "D2sv3", "--region", "eastus"], "unknown VM size 'D2sv3'; did you mean 'D2s_v3'"),
    (["history", "--type", "D2s_v3", "--region", "US Eats"], "unknown region 'US Eats'; did you mean 'US East'"),
    (["latest", "--family", "standardDSv9Family"], "did you mean 'standardDSv3Family'"),
    (["latest", "--zone", "4"], "unknown zone '4'"),
    (["history", "--type", "D2s_v3", "--region", "eastus", "--since", "yesterday-ish"], "--since 'yesterday-ish'"),
    (["best", "--count", "0"], "--count 0"),
])  # fmt: skip
def test_unknown_names_exit_2_with_one_line_naming_near_matches(sqlite_real_run: RealRun, argv: list[str],
                                                                 message: str) -> None:  # fmt: skip
    done = by_path(sqlite_real_run, *argv)
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_table_on_the_terminal_and_a_store_without_data(sqlite_real_run: RealRun, tmp_path: Path) -> None:
    done = by_path(sqlite_real_run, "history", "--type", "NC24ads_A100_v4", "--region", "US East")
    assert done.returncode == 0, done.stderr
    header, *lines = done.stdout.splitlines()
    assert header.split()[:4] == ["time", "InstanceTier", "InstanceType", "Region"] and len(lines) == 6
    empty = by_path(RealRun(tmp_path, tmp_path / "none", {**sqlite_real_run.env,
                                                             "SPOTLAKE_STORE": str(tmp_path / "none")}), "latest")
    assert empty.returncode == 2 and "no data yet" in empty.stderr


def test_the_run_carried_the_specs_into_state_archive_and_both_sinks(sqlite_real_run: RealRun,
                                                                      parquet_run: RealRun) -> None:  # fmt: skip
    store = sqlite_real_run.store
    archive = pd.read_csv(io.BytesIO(gzip.decompress((store / archive_key(parse_slot(SLOTS[1]))).read_bytes())))
    state = pd.read_parquet(store / LATEST_STATE_KEY)
    state = state[state["Kind"] == "merged"]
    with closing(sqlite3.connect(store / "timeseries.db")) as connection:
        sqlite = pd.read_sql_query("SELECT * FROM azure_timeseries", connection)
    parquet = duckdb.sql(f"SELECT * FROM read_parquet('{parquet_run.store}/timeseries/azure/*/*/*/*.parquet', "
                         "union_by_name = true)").to_arrow_table().to_pandas()  # fmt: skip
    for frame in (state, archive, sqlite, parquet):
        for size, expected in WELL_KNOWN.items():
            specs = frame.loc[frame["InstanceType"] == size, ["vCPUs", "MemoryGiB", "GPUs", "Architecture"]]
            assert not specs.empty and specs.drop_duplicates().values.tolist() == [expected], size
        assert (frame["SpotPricePerVcpu"] - frame["SpotPrice"] / frame["vCPUs"]).abs().max() < 1e-12
    latest = json.loads((sqlite_real_run.store / LATEST_JSON_KEY).read_text())
    assert latest and not set(latest[0]) & {"vCPUs", "MemoryGiB", "GPUs", "Architecture", "SpotPricePerVcpu"}


def test_the_readme_usage_lines_run_as_written(sqlite_real_run: RealRun) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("## Using the data") :]
    section = section[: section.index("\n## ", 3)]
    commands = [line.split("  #")[0].strip() for line in section.splitlines()
                if line.startswith((".venv/bin/python scripts/query.py", "make query"))]  # fmt: skip
    assert len(commands) >= 4
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=REPO_ROOT, env=sqlite_real_run.env, capture_output=True,
                              text=True, timeout=180, check=False)  # fmt: skip
        assert done.returncode == 0, (command, done.stderr[-2000:])
        assert done.stdout.strip(), command
