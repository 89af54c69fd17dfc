"""Collection-count metrics sink (SPEC section 4, ``SPOTLAKE_METRICS``): a local file, CloudWatch Logs, none.

The message is the caller's (merge writes ``AZUREONDEMAND: n AZURESPOT: n AZUREIF: n AZURESPS: n``); every
sink prefixes it with the slot in ISO form, so ``2025-12-13T13:00:00Z AZUREONDEMAND: ...`` tells which run
it counts even though a CloudWatch event carries the time it was written.
"""

from __future__ import annotations

import logging
import os
import time as time_module
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from utils.errors import RunFailed
from utils.timestamps import slot_iso

log = logging.getLogger(__name__)


class MetricsSink(Protocol):
    def put(self, message: str, slot: datetime) -> None: ...


def metrics_line(message: str, slot: datetime) -> str:
    """One line: the slot in ISO form, a space, the message (newlines folded so it stays one event)."""
    return f"{slot_iso(slot)} {' '.join(message.splitlines())}"


class FileMetricsSink:
    """Appends one line per put to a local file (parent directory created), flushed and fsynced.

    A rerun of a slot (after a crash past the metrics step) writes the identical line again; it is skipped
    when it is already among the file's last lines, so each slot's line appears once.
    """

    _TAIL_BYTES = 64 * 1024

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _recent_lines(self) -> set[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(handle.tell() - self._TAIL_BYTES, 0))
                return set(handle.read().decode("utf-8", errors="replace").splitlines())
        except FileNotFoundError:
            return set()

    def put(self, message: str, slot: datetime) -> None:
        line = metrics_line(message, slot)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if line in self._recent_lines():
                return
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise RunFailed(f"cannot append metrics to {self.path}: {exc.strerror or exc}") from exc


class CloudWatchMetricsSink:
    """CloudWatch Logs: creates the log group and stream when missing, then puts one event per call —
    unless the same line is already among the stream's latest events (a rerun of the slot).

    The event timestamp is now (CloudWatch rejects events older than 14 days, so a backfilled slot would be
    refused if stamped with its own time); the slot is in the message. botocore's standard retry mode
    handles throttling and 5xx per call; this sink retries the whole put ``attempts`` times on top, then
    raises ``RunFailed``.
    """

    def __init__(
        self,
        client: Any,
        log_group: str,
        log_stream: str,
        *,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        sleep: Callable[[float], None] = time_module.sleep,
        clock: Callable[[], float] = time_module.time,
    ) -> None:
        self.client = client
        self.log_group = log_group
        self.log_stream = log_stream
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.clock = clock
        self._ready = False

    def _ensure_destination(self) -> None:
        for create, kwargs in (
            (self.client.create_log_group, {"logGroupName": self.log_group}),
            (self.client.create_log_stream, {"logGroupName": self.log_group, "logStreamName": self.log_stream}),
        ):
            try:
                create(**kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                    raise
        self._ready = True

    def _recently_logged(self, line: str) -> bool:
        """True when ``line`` is among the stream's latest events (the last two days, newest 100)."""
        now_ms = int(self.clock() * 1000)
        response = self.client.get_log_events(
            logGroupName=self.log_group, logStreamName=self.log_stream, startTime=max(now_ms - 2 * 86_400_000, 0),
            startFromHead=False, limit=100,
        )
        return any(event.get("message") == line for event in response.get("events", []))

    def put(self, message: str, slot: datetime) -> None:
        event = {"timestamp": int(self.clock() * 1000), "message": metrics_line(message, slot)}
        last_error = "no attempt"
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                if not self._ready:
                    self._ensure_destination()
                if self._recently_logged(event["message"]):
                    return  # a rerun of the slot: its line is already in the stream (one line per slot)
                response = self.client.put_log_events(
                    logGroupName=self.log_group, logStreamName=self.log_stream, logEvents=[event]
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code = error.get("Code", "error")
                if code == "ResourceNotFoundException":
                    self._ready = False  # group or stream deleted meanwhile: recreate on the next attempt
                last_error = f"{code}: {error.get('Message', '')}"
                log.warning("cloudwatch put to %s/%s failed (attempt %d): %s",
                            self.log_group, self.log_stream, attempt + 1, last_error)  # fmt: skip
                continue
            except BotoCoreError as exc:
                last_error = type(exc).__name__
                log.warning("cloudwatch put to %s/%s failed (attempt %d): %s",
                            self.log_group, self.log_stream, attempt + 1, last_error)  # fmt: skip
                continue
            rejected = response.get("rejectedLogEventsInfo")
            if rejected:
                raise RunFailed(f"cloudwatch rejected the metrics event for {slot_iso(slot)}: {rejected}")
            return
        raise RunFailed(
            f"cloudwatch metrics to {self.log_group}/{self.log_stream} failed after {self.attempts} attempts: "
            f"{last_error}"
        )


class NoneMetricsSink:
    """Discards metrics (``SPOTLAKE_METRICS=none``)."""

    def put(self, message: str, slot: datetime) -> None:
        return None


def open_metrics_sink(settings: Any, *, logs_client: Any = None) -> MetricsSink:
    """The sink named by ``settings.metrics``; a CloudWatch Logs client is built when none is injected."""
    config = settings.metrics
    if config.kind == "file":
        return FileMetricsSink(config.path)
    if config.kind == "cloudwatch":
        if logs_client is None:
            from utils.aws import aws_client

            logs_client = aws_client("logs", settings)
        return CloudWatchMetricsSink(logs_client, config.log_group, config.log_stream)
    if config.kind == "none":
        return NoneMetricsSink()
    raise ValueError(f"unknown metrics sink kind {config.kind!r}")
