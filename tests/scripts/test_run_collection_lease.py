"""No overlapping runs (SPEC 8): run_collection.sh refuses to start while another run holds the lease.
(Taking over the expired lease of a crashed run is checked by the first end-to-end run in
test_run_collection_e2e.py, which starts with such a lease in its store.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.scripts.support import capture_server, run_script, script_env, write_tiny_catalog
from utils.lease import acquire
from utils.store import LocalStore

LEASE_OBJECT = Path("locks/azure/run.json")


def local_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return script_env({"SPOTLAKE_STORE": str(tmp_path / "store"), "SPS_KEY_FILE": str(tmp_path / "sps_key.txt"),
                       "SPOTLAKE_AZURE_EMULATOR": "1",
                       "SPOTLAKE_EMULATOR_CATALOG": str(write_tiny_catalog(tmp_path)), **extra})  # fmt: skip


def test_a_run_while_another_holds_the_lease_exits_1_at_once_with_a_clear_message(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    lease = acquire(store, "run", 600, holder="other-host:4242:cafe")
    with capture_server() as hook:
        started = time.monotonic()
        run = run_script(local_env(tmp_path, error_notification_slack_webhook_url=hook.url), "2025-12-13 13:00")
        elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    assert elapsed < 20
    assert "another run holds the lease 'run' (other-host:4242:cafe) until" in run.stderr
    assert "started collector" not in run.stderr
    assert "started the Azure emulator" not in run.stderr
    # The other run's lease is untouched, and this refused run alerted exactly once.
    assert json.loads((tmp_path / "store" / LEASE_OBJECT).read_text())["holder"] == lease.holder
    assert len(hook.bodies) == 1
    assert "overlapping run refused" in hook.bodies[0]["text"]


def test_an_invalid_lease_ttl_is_a_configuration_error(tmp_path: Path) -> None:
    run = run_script(local_env(tmp_path, SPOTLAKE_LEASE_TTL="not-a-number"), "2025-12-13 13:00")
    assert run.returncode == 2  # the TTL is validated with the rest of the settings
    assert "SPOTLAKE_LEASE_TTL" in run.stderr
