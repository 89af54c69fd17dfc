"""Exceptions grouped by what the caller should do, and the exit codes they map to (docs/contract.md 9).

- ``UsageError``: bad usage or bad input (timestamp, configuration, corrupt input file) -> exit 2.
- ``RunFailed``: the run could not complete (a fault that outlived its retries) -> exit 1, one alert.
- ``RetriableError``: a transient fault; carries what the retry policy needs (e.g. Retry-After).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class SpotlakeError(Exception):
    """Base of every error this project raises on purpose."""

    exit_code = EXIT_FAILED


class UsageError(SpotlakeError):
    """Bad usage or input: the operator must fix something; retrying will not help."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """Invalid or missing configuration (environment variables)."""


class RunFailed(SpotlakeError):
    """A fault that outlived its retry budget, or a broken invariant: the run fails loudly."""


class StoreError(RunFailed):
    """The store refused or failed an operation (read-only, full, missing, denied, unreachable): a run failure
    (exit 1, one alert), never mistaken for "another run holds the lease". The message names the operation,
    the object and the store's own error (errno name or S3 error code)."""


class Interrupted(BaseException):
    """SIGTERM/SIGHUP (Batch timeout, ``docker stop``) raised in the main thread (utils/entrypoint.py).

    A BaseException, like KeyboardInterrupt, so ``except Exception`` in retry loops cannot swallow it; the
    ``finally`` blocks on the way out release what the process holds."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name


class RetriableError(SpotlakeError):
    """A transient fault worth retrying with backoff.

    ``retry_after`` is the server's hint in seconds, when it gave one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class ObjectNotFound(SpotlakeError):
    """A store key that does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key}")
        self.key = key


class CorruptObject(SpotlakeError):
    """A stored object exists but cannot be parsed (truncated Parquet, invalid JSON/YAML, wrong schema).

    Callers decide the outcome: repair (rebuild it), skip with a logged reason, or fail with exit 2.
    """

    exit_code = EXIT_USAGE

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"corrupt object {key}: {reason}")
        self.key = key
        self.reason = reason
