"""Object store with two backends behind one small interface: a local directory and S3.

Both give atomic single-object writes (local: temp file + fsync + rename; S3: one PUT), listing by
prefix, and a create-if-absent primitive usable as a lease (local: hard link of a complete temp file,
which fails when the name exists; S3: ``PutObject`` with ``IfNoneMatch='*'``, 412 when it exists).
``put_if_match`` is the compare-and-swap used to take over an expired lease.

Every failure of the store itself (read-only directory or bucket, disk full, a file where a directory should
be, AccessDenied, an unreachable endpoint) surfaces as ``StoreError`` naming the operation, the object and
the store's own error (errno name or S3 error code): a run failure, never a traceback and never mistaken
for a held lease.

Local leftovers of a writer that was killed: ``.<name>.<random>.tmp`` files (a write interrupted before its
rename) are never listed, read or renamed over anything; ``remove_stale_temp_files`` deletes the ones older
than a run can live (run_lease.py calls it after taking the run lease). ``.<name>.cas-lock`` files are empty
``flock`` sidecars, never listed; they are kept on purpose, since deleting a lock file another process may
hold would let two compare-and-swaps run at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from utils.errors import ObjectNotFound, StoreError

log = logging.getLogger(__name__)


class S3Outcome(Enum):
    """What an S3 error code means to ``S3Store``. Only ``MISSING``, ``PRECONDITION`` and ``ACL_UNSUPPORTED``
    are answers; every other code (and any code not in ``S3_ERROR_CODES``) is a ``StoreError``."""

    MISSING = "the object is not there"  # GET -> ObjectNotFound; HEAD -> False; If-Match -> False (key vanished)
    PRECONDITION = "the write's condition did not hold"  # If-None-Match / If-Match -> False
    ACL_UNSUPPORTED = "the bucket refuses ACLs"  # public write: again without the ACL, and never ask again
    DENIED = "access denied"  # StoreError: a read-only or wrongly granted store
    NO_BUCKET = "the bucket does not exist"  # StoreError
    RETRIABLE = "throttled or a server fault"  # StoreError: it outlived botocore's own retries (utils/aws.py)


# The one table of S3 error codes. HEAD answers carry no body, so botocore names their error by the HTTP
# status alone ("404", "412"...); the other operations name it (NoSuchKey, PreconditionFailed...).
S3_ERROR_CODES: dict[str, S3Outcome] = {
    "NoSuchKey": S3Outcome.MISSING, "NotFound": S3Outcome.MISSING, "404": S3Outcome.MISSING,
    "PreconditionFailed": S3Outcome.PRECONDITION, "412": S3Outcome.PRECONDITION,
    "ConditionalRequestConflict": S3Outcome.PRECONDITION, "409": S3Outcome.PRECONDITION,
    "AccessControlListNotSupported": S3Outcome.ACL_UNSUPPORTED,
    "AccessDenied": S3Outcome.DENIED, "403": S3Outcome.DENIED,
    "NoSuchBucket": S3Outcome.NO_BUCKET,
    "SlowDown": S3Outcome.RETRIABLE, "RequestTimeout": S3Outcome.RETRIABLE, "InternalError": S3Outcome.RETRIABLE,
    "ServiceUnavailable": S3Outcome.RETRIABLE, "500": S3Outcome.RETRIABLE, "502": S3Outcome.RETRIABLE,
    "503": S3Outcome.RETRIABLE, "504": S3Outcome.RETRIABLE,
}  # fmt: skip


def s3_error_code(exc: ClientError | BotoCoreError) -> str:
    """The S3 error code of a failed call (AccessDenied, 404...); a ``BotoCoreError`` (endpoint, credentials,
    timeout) has none, so its class name."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or type(exc).__name__)


def s3_outcome(exc: ClientError) -> S3Outcome | None:
    """What ``exc`` means to the store (``S3_ERROR_CODES``); an unlisted 5xx is ``RETRIABLE``, any other
    unlisted code ``None`` (a ``StoreError`` like every failure)."""
    outcome = S3_ERROR_CODES.get(s3_error_code(exc))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return S3Outcome.RETRIABLE if outcome is None and status >= 500 else outcome


class Store(Protocol):
    """What every backend offers. Keys are '/'-separated, relative to the store root."""

    def get_bytes(self, key: str) -> bytes: ...
    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None, public: bool = False) -> None: ...
    def put_if_absent(self, key: str, data: bytes) -> bool: ...
    def get_with_tag(self, key: str) -> tuple[bytes, str]: ...
    def put_if_match(self, key: str, data: bytes, tag: str) -> bool: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def describe(self, key: str = "") -> str: ...


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or ".." in key.split("/"):
        raise ValueError(f"invalid store key {key!r}")
    return key


def process_umask() -> int:
    """This process's umask, read without changing it where Linux tells it (``/proc/self/status``, 4.7+);
    elsewhere set and restored at once (call it before starting threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass  # not Linux, or an old kernel: fall back to the set-and-restore below, same result
    current = os.umask(0o077)
    os.umask(current)
    return current


PUBLIC_MODE = 0o666  # before the umask: 0644 under the usual 022
PRIVATE_MODE = 0o600


def _oserror_reason(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return f"{name} ({exc.strerror})" if exc.strerror else name


@contextlib.contextmanager
def _local_failure(operation: str, path: Path) -> Iterator[None]:
    """Turn an OSError of the local store into ``StoreError`` naming the operation, the file and the errno."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"store {operation} {path} failed: {_oserror_reason(exc)}") from exc


class LocalStore:
    """A directory tree; each key is a file below ``root``.

    Objects written with ``public=True`` (latest JSON, archive, query selector, association file, reports)
    get mode 0666 minus the umask (0644 under the usual 022), as any file a program creates; every other
    object (state, leases, raw data, SPS state) stays 0600, the mode of the temp file it was written as.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.public_mode = PUBLIC_MODE & ~process_umask()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def describe(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        with _local_failure("read", path):
            try:
                return path.read_bytes()
            except FileNotFoundError:
                raise ObjectNotFound(key) from None

    def get_with_tag(self, key: str) -> tuple[bytes, str]:
        data = self.get_bytes(key)
        return data, hashlib.sha256(data).hexdigest()

    def _write_temp(self, path: Path, data: bytes) -> Path:
        with _local_failure("write", path):
            return self._write_temp_unchecked(path, data)

    def _write_temp_unchecked(self, path: Path, data: bytes) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return Path(tmp)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None, public: bool = False) -> None:
        path = self._path(key)
        tmp = self._write_temp(path, data)
        with _local_failure("write", path):
            try:
                os.chmod(tmp, self.public_mode if public else PRIVATE_MODE)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)  # the temp file must not outlive a failed rename
                raise

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        tmp = self._write_temp(path, data)
        with _local_failure("create", path):
            try:
                os.link(tmp, path)  # atomic, and the name only ever points at complete content
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)

    def put_if_match(self, key: str, data: bytes, tag: str) -> bool:
        path = self._path(key)
        with _local_failure("lock", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(path.parent / f".{path.name}.cas-lock", "a+b")  # noqa: SIM115 - closed just below
        # A sidecar lock serialises compare-and-swap between processes on this machine.
        with lock:
            with _local_failure("lock", path):
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                _, current = self.get_with_tag(key)
            except ObjectNotFound:
                return False
            if current != tag:
                return False
            self.put_bytes(key, data)
            return True

    def exists(self, key: str) -> bool:
        path = self._path(key)
        with _local_failure("stat", path):
            try:
                path.stat()
            except (FileNotFoundError, NotADirectoryError):
                return False
        return path.is_file()

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root
        if not base.exists():
            return []
        # Walk only below the deepest directory named by the prefix.
        dir_part = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base / dir_part if dir_part else base
        if not start.is_dir():
            return []
        keys = []

        def fail(exc: OSError) -> None:
            raise StoreError(f"store list {exc.filename or start} failed: {_oserror_reason(exc)}") from exc

        for dirpath, _dirnames, filenames in os.walk(start, onerror=fail):
            for name in filenames:
                if name.startswith(".") and (name.endswith(".tmp") or name.endswith(".cas-lock")):
                    continue  # in-flight temp files and CAS lock files are not objects
                rel = Path(dirpath, name).relative_to(base).as_posix()
                if rel.startswith(prefix):
                    keys.append(rel)
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Deleting an absent object is a no-op, as on S3.
        with _local_failure("delete", path), contextlib.suppress(FileNotFoundError):
            path.unlink()

    def remove_stale_temp_files(self, older_than_seconds: float, *, now: float | None = None) -> int:
        """Delete ``.*.tmp`` files left by writers killed mid-write, older than ``older_than_seconds``
        (no live writer is that old); returns how many. A file that vanishes meanwhile is not an error."""
        cutoff = (time.time() if now is None else now) - older_than_seconds
        removed = 0
        if not self.root.is_dir():
            return 0
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for name in filenames:
                if not (name.startswith(".") and name.endswith(".tmp")):
                    continue
                path = Path(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        with _local_failure("delete", path):
                            path.unlink()
                        removed += 1
        return removed


@contextlib.contextmanager
def _s3_failure(operation: str, where: str) -> Iterator[None]:
    """Turn an S3 error that outlived botocore's retries into ``StoreError`` naming the object and the code."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:  # S3 error codes; endpoint, credential and timeout failures
        raise StoreError(f"S3 {operation} {where} failed: {s3_error_code(exc)}") from exc


class S3Store:
    """An S3 bucket (and optional key prefix) through an injected boto3 S3 client.

    Errors that outlive botocore's own retries (standard mode, utils/aws.py) surface as ``StoreError`` (a
    ``RunFailed``) naming the object and the S3 error code (e.g. AccessDenied), never as a bare traceback.
    What each code means is ``S3_ERROR_CODES``.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, public_read: bool = False) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.public_read = public_read
        self._acl_supported = True

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(key) if key else self.prefix}".rstrip("/")

    def get_bytes(self, key: str) -> bytes:
        return self.get_with_tag(key)[0]

    def get_with_tag(self, key: str) -> tuple[bytes, str]:
        with _s3_failure("GET", self.describe(key)):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if s3_outcome(exc) is S3Outcome.MISSING:
                    raise ObjectNotFound(key) from None
                raise
            return response["Body"].read(), response["ETag"]

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None, public: bool = False) -> None:
        with _s3_failure("PUT", self.describe(key)):
            self._put(key, data, content_type=content_type, public=public)

    def _put(self, key: str, data: bytes, *, content_type: str | None, public: bool) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
        if content_type:
            kwargs["ContentType"] = content_type
        if public and self.public_read and self._acl_supported:
            try:
                self.client.put_object(**kwargs, ACL="public-read")
                return
            except ClientError as exc:
                if s3_outcome(exc) is not S3Outcome.ACL_UNSUPPORTED:
                    raise
                # Buckets with Object Ownership "bucket owner enforced" refuse ACLs (AWS default since
                # April 2023); docs/contract.md 5 says public ACLs are optional, so write without one.
                self._acl_supported = False
                log.warning("bucket %s does not allow ACLs; writing public objects without public-read", self.bucket)
        self.client.put_object(**kwargs)

    def _conditional_put(self, key: str, data: bytes, refused: set[S3Outcome], **condition: str) -> bool:
        """PUT ``key`` under an If-None-Match / If-Match ``condition``: False when S3 answers one of ``refused``."""
        with _s3_failure("conditional PUT", self.describe(key)):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **condition)
            except ClientError as exc:
                if s3_outcome(exc) in refused:
                    return False
                raise
            return True

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._conditional_put(key, data, {S3Outcome.PRECONDITION}, IfNoneMatch="*")

    def put_if_match(self, key: str, data: bytes, tag: str) -> bool:
        # MISSING too: the key vanished since its tag was read, so the condition cannot hold.
        return self._conditional_put(key, data, {S3Outcome.PRECONDITION, S3Outcome.MISSING}, IfMatch=tag)

    def exists(self, key: str) -> bool:
        with _s3_failure("HEAD", self.describe(key)):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if s3_outcome(exc) is S3Outcome.MISSING:
                    return False
                raise
            return True

    def list_keys(self, prefix: str) -> list[str]:
        full = self._key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_failure("LIST", f"s3://{self.bucket}/{full}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        with _s3_failure("DELETE", self.describe(key)):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def open_store(settings: Any, s3_client: Any = None) -> Store:
    """The store named by ``settings.store``; an S3 client is built when none is injected."""
    config = settings.store
    if config.kind == "local":
        try:
            config.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = errno.errorcode.get(exc.errno or 0, str(exc))
            raise StoreError(f"cannot create store directory {config.root}: {reason}") from exc
        return LocalStore(config.root)
    if s3_client is None:
        from utils.aws import aws_client

        s3_client = aws_client("s3", settings)
    return S3Store(s3_client, config.bucket, config.prefix, public_read=settings.public_read)
