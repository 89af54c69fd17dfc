"""The fault-matrix world: the real ``scripts/run_collection.sh`` against the Azure emulator and a moto server
behind the AWS fault proxy, with a Slack capture server; plus snapshots of every output to compare runs.

One ``World`` per process (pytest-xdist worker or the bench command): one moto server, one proxy, one
emulator (tiny catalog, fixed clock per run), reused by every run. Runs are driven with fast retry settings
so a persistent fault fails in seconds rather than minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import requests

from bench.reliability.aws_fault_proxy import AwsFaultProxy, FaultRule
from bench.reliability.script_runner import (
    SCRIPT,
    CaptureServer,
    assert_verdict_matches,
    capture_server,
    run_script,
    script_env,
)
from emulator.testing import RunningEmulator, running_emulator
from utils.constants import LATEST_JSON_KEY, LATEST_STATE_KEY

BUCKET = "spotlake-faults"
PREFIX = "collector"
DATABASE, TABLE = "spotlake", "azure"
LOG_GROUP, LOG_STREAM = "Collection-Data-Count", "Azure-Count"
REGION = "us-west-2"
SUMMARY_KEY = "latest_data/azure/last_merge_summary.json"
MONITORING_PREFIX = "rawdata/azure/monitoring/"

S0 = datetime(2025, 12, 13, 13, 0, tzinfo=UTC)  # the previous state
S1 = datetime(2025, 12, 13, 13, 10, tzinfo=UTC)  # the faulted slot

# Tiny catalog: 4 regions x 8 sizes (one of them with the A100 casing quirk), so a run takes a few seconds.
_REGIONS = ("eastus", "westus2", "westeurope", "japaneast")
_SIZES = (
    ("Standard_D2s_v3", 0.096), ("Standard_D4s_v3", 0.192), ("Standard_E2s_v5", 0.126), ("Standard_E4s_v5", 0.252),
    ("Standard_F2s_v2", 0.085), ("Standard_F4s_v2", 0.169), ("Standard_B2s", 0.0416),
    ("Standard_NC24ads_A100_v4", 3.673),
)  # fmt: skip

# Fast, bounded retries (utils/settings.py) and a short HTTP timeout so `slow` faults time out quickly.
FAST_RETRY_ENV = {
    "SPOTLAKE_RETRY_BASE_DELAY": "0.01",
    "SPOTLAKE_RETRY_MAX_DELAY": "0.05",
    "SPOTLAKE_RETRY_MAX_AFTER": "0.05",
    "SPOTLAKE_HTTP_TIMEOUT": "2",
}
# Distinctive credentials (moto accepts any): a log line or alert that contains one leaked it.
SECRETS = {"AWS_SECRET_ACCESS_KEY": "reliability-aws-secret-7Hq2", "webhook URL path": "hook-7Hq2"}
PAGE_SIZE = 10  # small pages so every paged API pages (an `empty` fault lands mid-paging)


def tiny_catalog_text() -> str:
    lines = ["Region,InstanceType,OndemandPrice,SpotPrice"]
    for r, region in enumerate(_REGIONS):
        for s, (size, price) in enumerate(_SIZES):
            factor = 1 + 0.05 * r
            lines.append(f"{region},{size},{price * factor:.4f},{price * factor * (0.2 + 0.01 * s):.5f}")
    return "\n".join(lines) + "\n"


@dataclass
class RunResult:
    returncode: int
    stderr: str
    alerts: list[dict]
    seconds: float
    aws_faults_injected: int = 0
    azure_stats: dict = field(default_factory=dict)


@dataclass
class Snapshot:
    """Every stored object (key -> bytes, monitoring excluded: it holds timings by design) and the Timestream
    points (dimensions + time -> measures) as Timestream would hold them."""

    objects: dict[str, bytes]
    records: dict[tuple, tuple]
    raw_record_count: int = 0
    conflicts: list[str] = field(default_factory=list)

    def diff(self, other: Snapshot) -> list[str]:
        """Human-readable differences (empty when equal)."""
        out = []
        for key in sorted(self.objects.keys() | other.objects.keys()):
            mine, theirs = self.objects.get(key), other.objects.get(key)
            if mine is None:
                out.append(f"missing object {key}")
            elif theirs is None:
                out.append(f"extra object {key}")
            elif mine != theirs:
                out.append(f"different object {key}")
        missing = other.records.keys() - self.records.keys()
        extra = self.records.keys() - other.records.keys()
        changed = [k for k in self.records.keys() & other.records.keys() if self.records[k] != other.records[k]]
        if missing or extra or changed:
            out.append(f"time series: {len(missing)} missing, {len(extra)} extra, {len(changed)} different points")
        out.extend(self.conflicts)
        return out


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip


def normalise_records(raw: list[dict]) -> tuple[dict[tuple, tuple], list[str]]:
    """Timestream semantics over moto's append-only record list: one point per (dimensions, measure name,
    time); a higher Version replaces it; the same Version with other values is a conflict Timestream would
    reject (listed)."""
    points: dict[tuple, tuple[int, tuple]] = {}
    conflicts = []
    for record in raw:
        dims = tuple(sorted((d["Name"], d["Value"]) for d in record.get("Dimensions", [])))
        key = (dims, record.get("MeasureName"), record.get("Time"))
        values = tuple(sorted((m["Name"], m["Value"], m["Type"]) for m in record.get("MeasureValues", [])))
        version = int(record.get("Version", 0))
        if key in points:
            old_version, old_values = points[key]
            if version == old_version and values != old_values:
                conflicts.append(f"time series: conflicting values for {key} at version {version}")
            if version < old_version:
                continue
        points[key] = (version, values)
    return {key: values for key, (_, values) in points.items()}, conflicts


class World:
    """moto server + fault proxy + emulator + Slack capture, and the runs against them."""

    def __init__(self, stack: ExitStack, workdir: Path) -> None:
        from moto.server import ThreadedMotoServer

        self.workdir = workdir
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.proxy: AwsFaultProxy = stack.enter_context(AwsFaultProxy(self.moto_url))
        catalog = workdir / "tiny_catalog.csv"
        catalog.write_text(tiny_catalog_text())
        self.emulator: RunningEmulator = stack.enter_context(running_emulator(catalog=catalog, page_size=PAGE_SIZE))
        self.hook: CaptureServer = stack.enter_context(capture_server())
        self._s3 = _client("s3", self.moto_url)

    # --- AWS account ------------------------------------------------------------------------------------
    def reset_aws(self) -> None:
        """Empty moto and provision what Terraform creates: bucket, Timestream table, log group and stream."""
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=30).raise_for_status()
        self._s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        ts = _client("timestream-write", self.moto_url)
        ts.create_database(DatabaseName=DATABASE)
        ts.create_table(DatabaseName=DATABASE, TableName=TABLE)
        logs = _client("logs", self.moto_url)
        logs.create_log_group(logGroupName=LOG_GROUP)
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=LOG_STREAM)

    def env(self) -> dict[str, str]:
        return script_env({
            "SPOTLAKE_STORE": f"s3://{BUCKET}/{PREFIX}",
            "SPOTLAKE_TIMESERIES": f"timestream://{DATABASE}/{TABLE}",
            "SPOTLAKE_METRICS": f"cloudwatch://{LOG_GROUP}/{LOG_STREAM}",
            "AWS_ENDPOINT_URL": self.proxy.url,
            "AWS_REGION": REGION,
            "SPOTLAKE_AZURE_EMULATOR": "1",
            "SPOTLAKE_EMULATOR_URL": self.emulator.url,
            "SPOTLAKE_CLOCK": "slot",
            "SPS_KEY_FILE": str(self.workdir / "sps_key.txt"),
            "error_notification_slack_webhook_url": self.hook.url.replace("/hook", f"/{SECRETS['webhook URL path']}"),
            "AWS_SECRET_ACCESS_KEY": SECRETS["AWS_SECRET_ACCESS_KEY"],
            "TMPDIR": str(self.workdir),
            **FAST_RETRY_ENV,
        })  # fmt: skip

    # --- runs -------------------------------------------------------------------------------------------
    def _prepare(self, slot: datetime, azure_faults: str, aws_rules: Sequence[FaultRule],
                 now: datetime | None = None) -> None:  # fmt: skip
        self.emulator.reset()
        self.emulator.set_faults(azure_faults or None)
        self.emulator.set_now(now or slot)
        self.proxy.set_rules(aws_rules)
        self.hook.bodies.clear()

    def run(self, slot: datetime, azure_faults: str = "", aws_rules: Sequence[FaultRule] = (), *,
            timeout: float = 300, extra_env: Mapping[str, str] | None = None,
            now: datetime | None = None) -> RunResult:  # fmt: skip
        """One ``run_collection.sh`` of ``slot`` with these faults (emulator reset, clock fixed at the slot, or
        at ``now``: a replay of the slot later)."""
        self._prepare(slot, azure_faults, aws_rules, now)
        started = time.monotonic()
        run = run_script({**self.env(), **(extra_env or {})}, slot.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         timeout=timeout, cwd=self.workdir)  # fmt: skip
        seconds = time.monotonic() - started
        assert_verdict_matches(run.stdout, run.returncode)  # issue 13.5: in every outcome of every cell
        injected, stats = self.proxy.injected, self.emulator.stats()
        self.emulator.set_faults(None)
        self.proxy.set_rules([])
        return RunResult(run.returncode, run.stderr, list(self.hook.bodies), seconds, injected, stats)

    def start(self, slot: datetime, azure_faults: str = "", aws_rules: Sequence[FaultRule] = (),
              extra_env: Mapping[str, str] | None = None) -> StartedRun:  # fmt: skip
        """Start ``run_collection.sh`` of ``slot`` in its own process group (as PID 1 of a container is),
        stderr to a file; ``StartedRun`` waits for log lines or objects, signals it and collects the result."""
        self._prepare(slot, azure_faults, aws_rules)
        log_path = Path(tempfile.mkstemp(prefix="run-", suffix=".log", dir=self.workdir)[1])
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(["bash", str(SCRIPT), slot.strftime("%Y-%m-%dT%H:%M:%SZ")],
                                    env={**self.env(), **(extra_env or {})}, cwd=self.workdir,
                                    stdout=subprocess.DEVNULL, stderr=log_file, start_new_session=True)  # fmt: skip
        return StartedRun(self, proc, log_path, time.monotonic())

    def lock_keys(self) -> list[str]:
        """The lease objects in the store now."""
        response = self._s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/locks/")
        return [item["Key"].removeprefix(f"{PREFIX}/") for item in response.get("Contents", [])]

    # --- outputs ----------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        objects: dict[str, bytes] = {}
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/")
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"].removeprefix(f"{PREFIX}/")
                if key.startswith(MONITORING_PREFIX):
                    continue
                objects[key] = self._s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        raw = self.raw_records()
        records, conflicts = normalise_records(raw)
        return Snapshot(objects, records, len(raw), conflicts)

    def raw_records(self) -> list[dict]:
        data = requests.get(f"{self.moto_url}/moto-api/data.json", timeout=60).json()
        tables = data.get("timestreamwrite", {}).get("TimestreamTable", [])
        return [record for table in tables if table["db_name"] == DATABASE and table["name"] == TABLE
                for record in table["records"]]  # fmt: skip

    def restore(self, snapshot: Snapshot, raw_records: list[dict]) -> None:
        """Reset AWS and put back a snapshot's objects and records (instead of re-running the slot)."""
        self.reset_aws()
        for key, data in snapshot.objects.items():
            self._s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=data)
        ts = _client("timestream-write", self.moto_url)
        for start in range(0, len(raw_records), 100):
            ts.write_records(DatabaseName=DATABASE, TableName=TABLE, Records=raw_records[start:start + 100])

    def summary(self) -> dict | None:
        try:
            body = self._s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{SUMMARY_KEY}")["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)


@dataclass
class StartedRun:
    """A ``run_collection.sh`` started by ``World.start``."""

    world: World
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str = "", lock: str = "", timeout: float = 120) -> bool:
        """Wait until the log contains ``text`` and (if given) the lease object ``locks/azure/<lock>.json``
        exists; False when the run exits or the time runs out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if text in self.log() and (not lock or f"locks/azure/{lock}.json" in self.world.lock_keys()):
                return True
            time.sleep(0.1)
        return False

    def signal(self, signum: int, *, group: bool = False) -> None:
        """``signum`` to the orchestrator only (what ``docker stop`` does to PID 1), or to its whole group."""
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)

    def finish(self, timeout: float = 120) -> RunResult:
        """Wait for the exit; the result, with ``seconds`` counted from the last ``signal`` call if any."""
        returncode = self.proc.wait(timeout=timeout)
        seconds = time.monotonic() - self.started
        injected, stats = self.world.proxy.injected, self.world.emulator.stats()
        self.world.emulator.set_faults(None)
        self.world.proxy.set_rules([])
        return RunResult(returncode, self.log(), list(self.world.hook.bodies), seconds, injected, stats)

    def group_alive(self) -> bool:
        """Whether any process of the run's process group is still alive (a leaked child)."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True


@contextmanager
def world() -> Iterator[World]:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="spotlake-faults-")))
        yield World(stack, workdir)


LATEST_KEYS = (LATEST_STATE_KEY, LATEST_JSON_KEY)
