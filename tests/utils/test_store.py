"""The store contract, run identically against LocalStore and S3Store (boto3 -> moto server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bench.reliability.aws_fault_proxy import AwsFaultProxy, FaultRule
from tests.conftest import REPO_ROOT
from utils.errors import ObjectNotFound, RunFailed, StoreError
from utils.lease import (
    LeaseHeld,
    acquire,
    break_lease,
    held,
    holder_gone_reason,
    holder_identity,
    process_start_time,
    release,
    release_all_held,
)
from utils.settings import load_settings
from utils.store import S3_ERROR_CODES, LocalStore, S3Outcome, S3Store, open_store, s3_outcome

BUCKET = "spotlake-store-test"


def _s3_client(endpoint: str):
    return boto3.client("s3", region_name="us-west-2", endpoint_url=endpoint)


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path: Path):
    """(store, http_statuses) — statuses of every S3 PutObject response (empty for local)."""
    statuses: list[int] = []
    if request.param == "local":
        return LocalStore(tmp_path / "store"), statuses
    endpoint = request.getfixturevalue("moto_endpoint")
    client = _s3_client(endpoint)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    client.meta.events.register(
        "after-call.s3.PutObject", lambda http_response, **_: statuses.append(http_response.status_code)
    )
    return S3Store(client, BUCKET, "pre/fix"), statuses


@pytest.fixture
def store(backend):
    return backend[0]


def test_put_then_get_round_trips_and_overwrites(store) -> None:
    store.put_bytes("a/b/c.bin", b"one")
    assert store.get_bytes("a/b/c.bin") == b"one"
    store.put_bytes("a/b/c.bin", b"two", content_type="application/octet-stream")
    assert store.get_bytes("a/b/c.bin") == b"two"
    store.put_bytes("empty", b"")
    assert store.get_bytes("empty") == b""


def test_get_of_a_missing_key_raises_object_not_found(store) -> None:
    with pytest.raises(ObjectNotFound) as info:
        store.get_bytes("nope/missing.json")
    assert info.value.key == "nope/missing.json"
    with pytest.raises(ObjectNotFound):
        store.get_with_tag("nope/missing.json")


def test_exists_and_delete(store) -> None:
    assert not store.exists("x/y")
    store.put_bytes("x/y", b"1")
    assert store.exists("x/y")
    store.delete("x/y")
    assert not store.exists("x/y")
    store.delete("x/y")  # deleting an absent object is a no-op


def test_list_keys_by_prefix_is_sorted_and_matches_partial_names(store) -> None:
    for key in ("r/2025/12/13/13-10.p", "r/2025/12/13/13-00.p", "r/2025/12/14/00-00.p", "r/20x", "other/k", "rx"):
        store.put_bytes(key, b"-")
    assert store.list_keys("r/2025/12/13/") == ["r/2025/12/13/13-00.p", "r/2025/12/13/13-10.p"]
    assert store.list_keys("r/2025/12/13/13-1") == ["r/2025/12/13/13-10.p"]
    assert store.list_keys("r/20") == ["r/2025/12/13/13-00.p", "r/2025/12/13/13-10.p", "r/2025/12/14/00-00.p", "r/20x"]
    assert store.list_keys("r") == [*store.list_keys("r/"), "rx"]
    assert store.list_keys("missing/") == []
    assert store.list_keys("") == sorted(
        ["other/k", "r/20x", "r/2025/12/13/13-00.p", "r/2025/12/13/13-10.p", "r/2025/12/14/00-00.p", "rx"]
    )


def test_put_if_absent_creates_once_and_refuses_the_second_time(backend) -> None:
    store, statuses = backend
    assert store.put_if_absent("locks/one.json", b"first") is True
    assert store.put_if_absent("locks/one.json", b"second") is False
    assert store.get_bytes("locks/one.json") == b"first"
    if isinstance(store, S3Store):
        assert statuses == [200, 412]  # S3 conditional put refused with 412 PreconditionFailed


def test_put_if_absent_has_exactly_one_winner_among_concurrent_writers(store) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda i: store.put_if_absent("race.json", str(i).encode()), range(6)))
    assert results.count(True) == 1
    assert store.get_bytes("race.json") == str(results.index(True)).encode()


def test_put_if_match_is_a_compare_and_swap(store) -> None:
    store.put_bytes("cas.json", b"v1")
    data, tag = store.get_with_tag("cas.json")
    assert data == b"v1"
    assert store.put_if_match("cas.json", b"v2", tag) is True
    assert store.get_bytes("cas.json") == b"v2"
    assert store.put_if_match("cas.json", b"v3", tag) is False  # stale tag
    assert store.get_bytes("cas.json") == b"v2"
    assert store.put_if_match("absent.json", b"v1", tag) is False
    assert not store.exists("absent.json")


def test_describe_names_the_location(store) -> None:
    if isinstance(store, S3Store):
        assert store.describe("a/b") == f"s3://{BUCKET}/pre/fix/a/b"
        assert store.describe() == f"s3://{BUCKET}/pre/fix"
    else:
        assert store.describe("a/b") == str(store.root / "a" / "b")
        assert store.describe() == str(store.root)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", ".."])
def test_keys_that_escape_the_root_are_refused(store, key: str) -> None:
    with pytest.raises(ValueError, match="invalid store key"):
        store.put_bytes(key, b"x")


def test_s3_keys_live_under_the_configured_prefix(moto_endpoint: str) -> None:
    client = _s3_client(moto_endpoint)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    client.put_object(Bucket=BUCKET, Key="outside/prefix", Body=b"-")
    store = S3Store(client, BUCKET, "/pre/fix/")
    store.put_bytes("k/v.json", b"{}", content_type="application/json")
    head = client.head_object(Bucket=BUCKET, Key="pre/fix/k/v.json")
    assert head["ContentType"] == "application/json"
    assert store.list_keys("") == ["k/v.json"]


def test_open_store_builds_the_configured_backend(base_env: dict[str, str], moto_endpoint: str) -> None:
    local = open_store(load_settings(base_env))
    assert isinstance(local, LocalStore) and local.root.is_dir()
    client = _s3_client(moto_endpoint)
    s3_env = {**base_env, "SPOTLAKE_STORE": f"s3://{BUCKET}/p", "AWS_ENDPOINT_URL": moto_endpoint}
    s3 = open_store(load_settings(s3_env), s3_client=client)
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == (BUCKET, "p")
    built = open_store(load_settings(s3_env))  # the client comes from utils.aws, pointed at moto
    assert built.client.meta.endpoint_url == moto_endpoint


def test_open_store_on_an_uncreatable_directory_raises_run_failed(base_env: dict[str, str], tmp_path) -> None:
    settings = load_settings(base_env)
    (tmp_path / "file").write_text("")
    import dataclasses

    broken = dataclasses.replace(settings, store=dataclasses.replace(settings.store, root=tmp_path / "file" / "x"))
    with pytest.raises(RunFailed, match="cannot create store directory"):
        open_store(broken)


# --- public-read ACLs (docs/contract.md 5): moto accepts ACLs everywhere, so the refusal is stubbed -------------------


def test_public_objects_fall_back_to_no_acl_on_a_bucket_owner_enforced_bucket(caplog) -> None:
    client = _s3_client("http://127.0.0.1:9")
    store = S3Store(client, BUCKET, public_read=True)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "put_object", service_error_code="AccessControlListNotSupported",
            service_message="The bucket does not allow ACLs", http_status_code=400,
            expected_params={"Bucket": BUCKET, "Key": "latest.json", "Body": b"{}", "ACL": "public-read",
                             "ContentType": "application/json"},
        )  # fmt: skip
        stubber.add_response("put_object", {}, {"Bucket": BUCKET, "Key": "latest.json", "Body": b"{}",
                                                "ContentType": "application/json"})  # fmt: skip
        # Later public writes skip the ACL attempt entirely: one call each.
        stubber.add_response("put_object", {}, {"Bucket": BUCKET, "Key": "archive.csv.gz", "Body": ANY})
        store.put_bytes("latest.json", b"{}", content_type="application/json", public=True)
        store.put_bytes("archive.csv.gz", b"x", public=True)
        stubber.assert_no_pending_responses()
    assert "does not allow ACLs" in caplog.text


def test_other_acl_errors_are_not_swallowed() -> None:
    client = _s3_client("http://127.0.0.1:9")
    store = S3Store(client, BUCKET, public_read=True)
    with Stubber(client) as stubber:
        stubber.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(RunFailed, match=r"S3 PUT s3://.*/latest\.json failed: AccessDenied"):
            store.put_bytes("latest.json", b"{}", public=True)


def test_public_objects_get_the_public_read_acl_when_the_bucket_allows_it(moto_endpoint: str) -> None:
    client = _s3_client(moto_endpoint)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    S3Store(client, BUCKET, public_read=True).put_bytes("pub.json", b"{}", public=True)
    S3Store(client, BUCKET, public_read=True).put_bytes("private.json", b"{}")
    grants = client.get_object_acl(Bucket=BUCKET, Key="pub.json")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") for g in grants)
    private = client.get_object_acl(Bucket=BUCKET, Key="private.json")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("/global/AllUsers") for g in private)


# --- local atomicity: a writer killed mid-write ------------------------------------------------------------

_SLOW_WRITER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from utils.store import LocalStore

    real_fdopen = os.fdopen

    class SlowHandle:
        def __init__(self, handle):
            self.handle = handle
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.handle.close()
        def write(self, data):
            for i in range(0, len(data), 65536):
                self.handle.write(data[i : i + 65536])
                self.handle.flush()
                if i == 65536 * 4:
                    print("mid-write", flush=True)
                time.sleep(0.05)
        def flush(self):
            self.handle.flush()
        def fileno(self):
            return self.handle.fileno()

    os.fdopen = lambda fd, mode="r": SlowHandle(real_fdopen(fd, mode))
    LocalStore(Path(sys.argv[2])).put_bytes(sys.argv[3], b"N" * (8 * 1024 * 1024))
    print("finished", flush=True)
    """
)


def test_a_writer_killed_mid_write_leaves_the_old_object_intact(tmp_path: Path) -> None:
    root = tmp_path / "store"
    key = "latest_data/azure/latest_state.parquet"
    store = LocalStore(root)
    store.put_bytes(key, b"OLD" * 1000)
    child = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WRITER, str(REPO_ROOT), str(root), key],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "mid-write"
        # While the writer is mid-way, readers see the old object and listing hides the temp file.
        temps = [p for p in (root / "latest_data" / "azure").iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and 0 < temps[0].stat().st_size < 8 * 1024 * 1024
        assert store.get_bytes(key) == b"OLD" * 1000
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert store.get_bytes(key) == b"OLD" * 1000
    assert store.list_keys("latest_data/") == [key]


# --- lease on both backends -------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_lease_is_exclusive_until_released(store) -> None:
    lease = acquire(store, "sps", 900, holder="run-1")
    assert lease.key == "locks/azure/sps.json"
    assert json.loads(store.get_bytes(lease.key))["holder"] == "run-1"
    with pytest.raises(LeaseHeld, match="held by run-1"):
        acquire(store, "sps", 900, holder="run-2")
    assert isinstance(LeaseHeld("x"), RunFailed)  # a held lease fails the second run with exit 1
    release(store, lease)
    assert not store.exists(lease.key)
    assert acquire(store, "sps", 900, holder="run-2").holder == "run-2"


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_release_it(store) -> None:
    clock = _Clock()
    old = acquire(store, "merge", 60, holder="crashed", clock=clock)
    clock.now += 30
    with pytest.raises(LeaseHeld):
        acquire(store, "merge", 60, holder="new", clock=clock)
    clock.now += 31
    new = acquire(store, "merge", 60, holder="new", clock=clock)
    assert new.expires_at == clock.now + 60
    release(store, old)  # not ours any more: left in place
    assert json.loads(store.get_bytes(new.key))["holder"] == "new"
    release(store, new)
    assert not store.exists(new.key)


def test_an_unreadable_lease_protects_nothing(store) -> None:
    store.put_bytes("locks/azure/if.json", b"{not json")
    assert acquire(store, "if", 60, holder="fresh").holder == "fresh"


def test_held_releases_the_lease_even_when_the_block_fails(store) -> None:
    with pytest.raises(RuntimeError), held(store, "price", 60, holder="h"):
        assert store.exists("locks/azure/price.json")
        raise RuntimeError("collector failed")
    assert not store.exists("locks/azure/price.json")
    release(store, acquire(store, "price", 60))  # free again


# --- issue 11 item 8 / issue 13 item 9: file modes on a local store --------------------------------------
_UMASK_PROBE = textwrap.dedent("""
    import os, sys, json
    from pathlib import Path
    os.umask(int(sys.argv[2], 8))
    from utils.store import LocalStore
    store = LocalStore(Path(sys.argv[1]))
    store.put_bytes("latest_data/latest_azure.json", b"{}", public=True)
    store.put_bytes("rawdata/azure/2025/12/13/13-00-00.csv.gz", b"x", public=True)
    store.put_bytes("latest_data/azure/latest_state.parquet", b"state")
    store.put_if_absent("leases/run.json", b"{}")
    modes = {str(p.relative_to(sys.argv[1])): oct(p.stat().st_mode & 0o777) for p in Path(sys.argv[1]).rglob("*")
             if p.is_file()}
    print(json.dumps(modes))
""")


@pytest.mark.parametrize(("umask", "public"), [("022", "0o644"), ("027", "0o640"), ("077", "0o600")])
def test_public_objects_are_written_as_the_umask_allows_and_private_ones_stay_0600(
    tmp_path: Path, umask: str, public: str
) -> None:
    # A fresh process per umask: the umask is process-wide and LocalStore reads it once.
    out = subprocess.run([sys.executable, "-c", _UMASK_PROBE, str(tmp_path), umask], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    modes = json.loads(out)
    assert modes["latest_data/latest_azure.json"] == public
    assert modes["rawdata/azure/2025/12/13/13-00-00.csv.gz"] == public
    assert modes["latest_data/azure/latest_state.parquet"] == "0o600"
    assert modes["leases/run.json"] == "0o600"


def test_rewriting_a_public_object_as_private_tightens_its_mode(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("k.json", b"1", public=True)
    store.put_bytes("k.json", b"2")
    assert (tmp_path / "k.json").stat().st_mode & 0o777 == 0o600


# --- issue 14: file:// store URLs are percent-decoded ---------------------------------------------------
def test_a_percent_encoded_file_url_store_writes_into_the_decoded_directory(tmp_path: Path) -> None:
    settings = load_settings({"SPOTLAKE_STORE": f"file://{tmp_path}/my%20store"}, cwd=tmp_path)
    open_store(settings).put_bytes("a/b.json", b"{}")
    assert (tmp_path / "my store" / "a" / "b.json").read_bytes() == b"{}"
    assert not (tmp_path / "my%20store").exists()


# --- who holds a lease, and when it can be taken over at once (issues 13.3, 14.1) -------------------------


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)  # fmt: skip
    return int(proc.stdout)


def test_a_lease_records_its_holder_process_host_and_batch_attempt(store) -> None:
    env = {"AWS_BATCH_JOB_ID": "job-7", "AWS_BATCH_JOB_ATTEMPT": "2"}
    lease = acquire(store, "run", 600, pid=os.getpid(), slot="2025-12-13T13:10:00Z", env=env)
    recorded = json.loads(store.get_bytes(lease.key))
    assert recorded["host"] == socket.gethostname() and recorded["pid"] == os.getpid()
    assert recorded["pid_start"] == process_start_time(os.getpid()) != ""
    assert (recorded["batch_job_id"], recorded["batch_attempt"], recorded["slot"]) == ("job-7", "2",
                                                                                      "2025-12-13T13:10:00Z")
    release(store, lease)


def test_a_dead_holder_on_this_host_is_taken_over_at_once_on_a_local_store_only(store, caplog) -> None:
    dead = _dead_pid()
    acquire(store, "run", 600, holder="crashed", pid=dead)
    if isinstance(store, LocalStore):
        lease = acquire(store, "run", 600, holder="next")
        assert json.loads(store.get_bytes(lease.key))["holder"] == "next"
        assert f"took over lease run from crashed at once: its process {dead} on this host is dead" in caplog.text
    else:  # S3 is shared between hosts: this host cannot know the holder is gone; the TTL decides
        with pytest.raises(LeaseHeld, match="held by crashed"):
            acquire(store, "run", 600, holder="next")


def test_a_live_holder_keeps_its_lease_until_its_process_dies(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        acquire(store, "merge", 600, holder="alive", pid=holder.pid)
        with pytest.raises(LeaseHeld, match="held by alive"):
            acquire(store, "merge", 600, holder="next")
    finally:
        holder.kill()
        holder.wait()
    assert acquire(store, "merge", 600, holder="next").holder == "next"


def test_a_reused_pid_another_boot_or_another_host(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    me = holder_identity()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        def lease_of(**fields: object) -> None:
            payload = {**me, "holder": "old", "expires_at": 4e9, "pid": live.pid,
                       "pid_start": process_start_time(live.pid), **fields}  # fmt: skip
            store.put_bytes("locks/azure/run.json", json.dumps(payload).encode())

        lease_of(pid_start="1")  # the pid now belongs to a process started at another time: the holder is gone
        assert acquire(store, "run", 600, holder="a").holder == "a"
        lease_of(boot_id="another-boot")
        assert acquire(store, "run", 600, holder="b").holder == "b"
        lease_of()  # the live process itself holds it
        with pytest.raises(LeaseHeld):
            acquire(store, "run", 600, holder="c")
        lease_of(host="another-host", pid=_dead_pid())  # another machine's pid says nothing here
        with pytest.raises(LeaseHeld):
            acquire(store, "run", 600, holder="c")
        lease_of(pid_ns="pid:[1]", pid=_dead_pid())  # another pid namespace (a container) on this host
        with pytest.raises(LeaseHeld):
            acquire(store, "run", 600, holder="c")
    finally:
        live.kill()
        live.wait()


def test_a_later_attempt_of_the_same_batch_job_takes_the_lease_over_on_every_backend(store) -> None:
    first = {"AWS_BATCH_JOB_ID": "job-1", "AWS_BATCH_JOB_ATTEMPT": "1"}
    acquire(store, "sps-state", 600, holder="attempt-1", env=first, pid=1)
    with pytest.raises(LeaseHeld):  # the next slot's job: another job id
        acquire(store, "sps-state", 600, env={"AWS_BATCH_JOB_ID": "job-2", "AWS_BATCH_JOB_ATTEMPT": "1"}, pid=1)
    with pytest.raises(LeaseHeld):  # the same attempt again is not a retry
        acquire(store, "sps-state", 600, env=first, pid=1)
    retry = acquire(store, "sps-state", 600, holder="attempt-2", pid=1,
                    env={"AWS_BATCH_JOB_ID": "job-1", "AWS_BATCH_JOB_ATTEMPT": "2"})  # fmt: skip
    assert json.loads(store.get_bytes(retry.key))["holder"] == "attempt-2"
    release(store, retry)


_IDENTITY = st.fixed_dictionaries({
    "host": st.sampled_from(["h1", "h2"]), "boot_id": st.sampled_from(["b1", "b2", ""]),
    "pid_ns": st.sampled_from(["n1", "n2"]), "pid": st.integers(1, 4_000_000),
    "batch_job_id": st.sampled_from(["", "j1", "j2"]), "batch_attempt": st.sampled_from(["", "1", "2", "x"]),
})  # fmt: skip


@hypothesis_settings(max_examples=300, deadline=None)
@given(current=_IDENTITY, me=_IDENTITY)
def test_on_a_shared_store_only_an_earlier_attempt_of_the_same_job_is_ever_taken_over(current, me) -> None:
    reason = holder_gone_reason(current, me, local_store=False)
    earlier_attempt = (current["batch_job_id"] != "" and current["batch_job_id"] == me["batch_job_id"]
                       and current["batch_attempt"].isdigit() and me["batch_attempt"].isdigit()
                       and int(current["batch_attempt"]) < int(me["batch_attempt"]))  # fmt: skip
    assert bool(reason) == earlier_attempt


@hypothesis_settings(max_examples=300, deadline=None)
@given(current=_IDENTITY, me=_IDENTITY)
def test_on_a_local_store_another_machine_or_namespace_is_never_judged_by_its_pid(current, me) -> None:
    reason = holder_gone_reason(current, me, local_store=True)
    if reason and "AWS Batch" not in reason:
        assert current["host"] == me["host"]
        assert "rebooted" in reason or (current["boot_id"] == me["boot_id"] != "" and current["pid_ns"] == me["pid_ns"])


def test_break_removes_a_lease_on_purpose_and_only_the_named_holders(store) -> None:
    assert break_lease(store, "run") is None  # nothing to break
    acquire(store, "run", 600, holder="stuck", pid=1)
    with pytest.raises(LeaseHeld, match="held by stuck, not other"):
        break_lease(store, "run", holder="other")
    assert break_lease(store, "run", holder="stuck")["holder"] == "stuck"
    assert not store.exists("locks/azure/run.json")
    assert acquire(store, "run", 600, holder="fresh").holder == "fresh"


def test_a_process_stopped_by_a_signal_releases_every_lease_it_still_holds(store) -> None:
    first, second = acquire(store, "merge", 600), acquire(store, "sps-state", 600)
    assert release_all_held("test") >= 2
    assert not store.exists(first.key) and not store.exists(second.key)


# --- store failures are StoreError naming the cause, never a held lease (issue 14.3) ----------------------


def test_a_failing_local_store_raises_store_error_naming_the_errno(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "locks").write_text("a file where a directory should be")
    with pytest.raises(StoreError, match=r"store write .*locks/azure/run.json failed: (ENOTDIR|EEXIST)"):
        acquire(store, "run", 600)
    with pytest.raises(StoreError, match=r"ENOTDIR|EEXIST"):
        store.put_bytes("locks/azure/x.json", b"{}")
    assert store.exists("locks/azure/x.json") is False
    assert isinstance(StoreError("x"), RunFailed)  # exit 1 and the run's one alert


@pytest.mark.skipif(os.geteuid() == 0, reason="root bypasses directory permissions")
def test_a_read_only_local_store_raises_store_error(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    root.chmod(0o500)
    with pytest.raises(StoreError, match="EACCES"):
        acquire(LocalStore(root), "run", 600)


def test_a_missing_bucket_is_a_store_error_not_a_held_lease(moto_endpoint: str) -> None:
    store = S3Store(_s3_client(moto_endpoint), "no-such-bucket-here")
    with pytest.raises(StoreError, match="NoSuchBucket") as info:
        acquire(store, "run", 600)
    assert not isinstance(info.value, LeaseHeld)


def test_stale_temp_files_of_killed_writers_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes("latest_data/latest_azure.json", b"[]")
    stale = tmp_path / "store" / "latest_data" / ".latest_azure.json.abc123.tmp"
    fresh = tmp_path / "store" / "latest_data" / ".latest_azure.json.def456.tmp"
    lock = tmp_path / "store" / "latest_data" / ".latest_azure.json.cas-lock"
    for path in (stale, fresh, lock):
        path.write_bytes(b"partial")
    os.utime(stale, (1_000_000, 1_000_000))
    assert store.remove_stale_temp_files(600) == 1
    assert not stale.exists() and fresh.exists() and lock.exists()  # a lock file another process may hold stays
    assert store.list_keys("latest_data/") == ["latest_data/latest_azure.json"]


def test_an_expired_lease_whose_holder_still_runs_on_this_host_is_not_taken_over(tmp_path: Path) -> None:
    # A local run that outlived its lease lifetime must not be overlapped; once it is gone, the lease is free.
    store = LocalStore(tmp_path / "store")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        acquire(store, "run", 60, holder="slow-run", pid=holder.pid, clock=lambda: 1_000_000.0)
        with pytest.raises(LeaseHeld, match=f"expired .* ago but its process {holder.pid} on this host is still"):
            acquire(store, "run", 60, holder="next")
    finally:
        holder.kill()
        holder.wait()
    assert acquire(store, "run", 60, holder="next").holder == "next"


# --- the S3 error-code table, through real boto3 and moto ---------------------------------------------------------
# moto answers NoSuchKey, 404 (HEAD), PreconditionFailed and NoSuchBucket itself (the tests above and the first
# one below); every other code is injected by the AWS fault proxy in front of moto (bench/reliability/), so the
# SDK parses a real S3 error answer and everything not faulted is moto's.

MISSING, PRECONDITION, ACL = S3Outcome.MISSING, S3Outcome.PRECONDITION, S3Outcome.ACL_UNSUPPORTED
DENIED, NO_BUCKET, RETRIABLE = S3Outcome.DENIED, S3Outcome.NO_BUCKET, S3Outcome.RETRIABLE
# (code, HTTP status it comes with, what it means) for the operations whose answers name the code...
NAMED_CODES = [
    ("NoSuchKey", 404, MISSING), ("NotFound", 404, MISSING), ("PreconditionFailed", 412, PRECONDITION),
    ("ConditionalRequestConflict", 409, PRECONDITION), ("AccessControlListNotSupported", 400, ACL),
    ("AccessDenied", 403, DENIED), ("NoSuchBucket", 404, NO_BUCKET), ("SlowDown", 503, RETRIABLE),
    ("RequestTimeout", 400, RETRIABLE), ("InternalError", 500, RETRIABLE), ("ServiceUnavailable", 503, RETRIABLE),
]  # fmt: skip
# ...and for HEAD, whose answer has no body: botocore names the error by its status.
BODILESS_STATUSES = [(404, MISSING), (412, PRECONDITION), (409, PRECONDITION), (403, DENIED),
                     (500, RETRIABLE), (502, RETRIABLE), (503, RETRIABLE), (504, RETRIABLE)]  # fmt: skip


def test_the_table_maps_exactly_the_codes_tested_here() -> None:
    tested = {code: outcome for code, _, outcome in NAMED_CODES}
    tested |= {str(status): outcome for status, outcome in BODILESS_STATUSES}
    assert tested == S3_ERROR_CODES


def test_a_missing_bucket_fails_every_named_operation_with_no_such_bucket(moto_endpoint: str) -> None:
    store = S3Store(_s3_client(moto_endpoint), "no-such-bucket-here")
    for call in (lambda: store.get_bytes("k"), lambda: store.put_bytes("k", b"-"), lambda: store.list_keys(""),
                 lambda: store.put_if_absent("k", b"-"), lambda: store.put_if_match("k", b"-", '"tag"'),
                 lambda: store.delete("k")):  # fmt: skip
        with pytest.raises(StoreError, match=r"failed: NoSuchBucket$"):
            call()


@pytest.fixture(scope="module")
def fault_proxy(moto_server: str) -> Iterator[AwsFaultProxy]:
    with AwsFaultProxy(moto_server) as proxy:
        yield proxy


@pytest.fixture
def proxied(moto_endpoint: str, fault_proxy: AwsFaultProxy) -> tuple[S3Store, AwsFaultProxy]:
    """An S3Store whose boto3 client goes through the fault proxy to moto, with one retry (two attempts) so
    that retriable faults fail fast."""
    _s3_client(moto_endpoint).create_bucket(Bucket=BUCKET,
                                            CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    client = boto3.client("s3", region_name="us-west-2", endpoint_url=fault_proxy.url,
                          config=Config(retries={"mode": "standard", "max_attempts": 1}))  # fmt: skip
    fault_proxy.set_rules([])
    store = S3Store(client, BUCKET, "pre", public_read=True)
    store.put_bytes("there.json", b"old")
    return store, fault_proxy


def _fault(proxy: AwsFaultProxy, operation: str, code: str, status: int, calls: tuple[int, ...] | None = None
           ) -> FaultRule:
    rule = FaultRule(service="s3", operation=operation, key=r"^pre/", status=status, code=code, calls=calls)
    proxy.set_rules([rule])
    return rule


def _attempts(rule: FaultRule, outcome: S3Outcome) -> None:
    """A retriable code was retried by botocore (both attempts faulted); any other code was not."""
    assert rule.injected == (2 if outcome is RETRIABLE else 1)


@pytest.mark.parametrize(("code", "status", "outcome"), NAMED_CODES)
def test_a_get_answered_with_each_code(proxied, code: str, status: int, outcome: S3Outcome) -> None:
    store, proxy = proxied
    rule = _fault(proxy, "GetObject", code, status)
    if outcome is MISSING:
        with pytest.raises(ObjectNotFound):
            store.get_bytes("there.json")
    else:
        with pytest.raises(StoreError, match=rf"^S3 GET s3://{BUCKET}/pre/there\.json failed: {code}$"):
            store.get_bytes("there.json")
    _attempts(rule, outcome)


@pytest.mark.parametrize(("status", "outcome"), BODILESS_STATUSES)
def test_a_head_answered_with_each_status(proxied, status: int, outcome: S3Outcome) -> None:
    store, proxy = proxied
    rule = _fault(proxy, "HeadObject", "Ignored", status)  # a HEAD answer's body is never read
    if outcome is MISSING:
        assert store.exists("there.json") is False
    else:
        with pytest.raises(StoreError, match=rf"^S3 HEAD s3://{BUCKET}/pre/there\.json failed: {status}$"):
            store.exists("there.json")
    _attempts(rule, outcome)


@pytest.mark.parametrize(("code", "status", "outcome"), NAMED_CODES)
def test_conditional_puts_answered_with_each_code(proxied, code: str, status: int, outcome: S3Outcome) -> None:
    store, proxy = proxied
    tag = store.get_with_tag("there.json")[1]
    for put, refused in ((lambda: store.put_if_absent("new.json", b"x"), {PRECONDITION}),
                         (lambda: store.put_if_match("there.json", b"x", tag), {PRECONDITION, MISSING})):
        rule = _fault(proxy, "PutObject", code, status)
        if outcome in refused:
            assert put() is False
        else:
            with pytest.raises(StoreError, match=rf"^S3 conditional PUT s3://{BUCKET}/pre/\S+ failed: {code}$"):
                put()
        _attempts(rule, outcome)
    proxy.set_rules([])
    assert store.get_bytes("there.json") == b"old" and not store.exists("new.json")


@pytest.mark.parametrize(("code", "status", "outcome"), NAMED_CODES)
def test_a_public_put_answered_with_each_code(proxied, code: str, status: int, outcome: S3Outcome, caplog) -> None:
    store, proxy = proxied
    # Only the first PUT is faulted when the code is the ACL refusal: the write without the ACL then succeeds.
    rule = _fault(proxy, "PutObject", code, status, calls=(1,) if outcome is ACL else None)
    if outcome is ACL:
        store.put_bytes("pub.json", b"{}", public=True)
        assert "does not allow ACLs" in caplog.text and rule.injected == 1
        assert store.get_bytes("pub.json") == b"{}"
        return
    with pytest.raises(StoreError, match=rf"^S3 PUT s3://{BUCKET}/pre/pub\.json failed: {code}$"):
        store.put_bytes("pub.json", b"{}", public=True)
    _attempts(rule, outcome)


def test_an_unlisted_5xx_is_retriable_and_an_unlisted_4xx_means_nothing_but_failure(proxied) -> None:
    store, proxy = proxied
    for code, status, outcome, attempts in (("BadGateway", 502, RETRIABLE, 2), ("InvalidRequest", 400, None, 1)):
        rule = _fault(proxy, "GetObject", code, status)
        with pytest.raises(StoreError, match=rf"failed: {code}$") as info:
            store.get_bytes("there.json")
        assert s3_outcome(info.value.__cause__) is outcome and rule.injected == attempts
