"""Test-only stand-ins for ``scripts/run_collection.sh`` runs: a tiny emulator catalog, an IMDSv2 stand-in
(127.0.0.1 only), and the list of objects a run writes. Running the script itself, its clean environment and
the Slack capture server live in bench/reliability/script_runner.py (the fault-matrix bench uses them too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from bench.local_server import serving
from utils.constants import (
    LATEST_JSON_KEY,
    LATEST_STATE_KEY,
    QUERY_SELECTOR_KEY,
    SPS_METADATA_KEY,
    SPS_REQUEST_PLAN_KEY,
    archive_key,
    if_key,
    monitoring_key,
    price_key,
    sps_key,
    sps_saved_key,
)

# A tiny emulator catalog: two regions, three sizes, so an end-to-end run takes seconds.
TINY_CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice
eastus,Standard_D2s_v3,0.096,0.0192
eastus,Standard_E4s_v5,0.252,0.0504
westus2,Standard_D2s_v3,0.096,0.0211
westus2,Standard_F4s_v2,0.169,0.0338
"""


# The SPS collector's saved variables (``sps_saved_key`` names) after an end-to-end run on the emulator.
SAVED_VARIABLES = ("last_run.json", "call_history.json", "available_locations.json", "over_limit_locations.json")


def slot_objects(slot: datetime, desired_count: int = 1, saved_variables: Sequence[str] = SAVED_VARIABLES
                 ) -> list[str]:
    """Every docs/contract.md 5 object a successful run of ``slot`` leaves in the store."""
    return [
        price_key(slot),
        if_key(slot),
        sps_key(slot, desired_count),
        SPS_METADATA_KEY,
        SPS_REQUEST_PLAN_KEY,
        *(sps_saved_key(name) for name in saved_variables),
        LATEST_STATE_KEY,
        LATEST_JSON_KEY,
        archive_key(slot),
        QUERY_SELECTOR_KEY,
        monitoring_key("memory", slot, "memory.csv.gz"),
        monitoring_key("executionTime", slot, "execution_time.csv.gz"),
        monitoring_key("instanceType", slot, "instance_type.txt"),
    ]


def write_tiny_catalog(directory: Path) -> Path:
    path = directory / "tiny_catalog.csv"
    path.write_text(TINY_CATALOG)
    return path


@contextmanager
def imds_stand_in(instance_type: str = "m7g.large") -> Iterator[str]:
    """An IMDSv2 stand-in: PUT /latest/api/token gives a token; the GET needs it. Yields the base URL."""
    token = "stand-in-token"

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self._answer(200 if ok else 400, token if ok else "")

        def do_GET(self) -> None:
            authorised = self.headers.get("X-aws-ec2-metadata-token") == token
            ok = self.path == "/latest/meta-data/instance-type" and authorised
            self._answer(200 if ok else 401, instance_type if ok else "")

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    with serving(Handler) as url:
        yield url
