"""Collection-count metrics sink (``SPOTLAKE_METRICS``): a local file, CloudWatch Logs, none.

The message is the caller's (merge writes SpotLake's ``AZUREONDEMAND: n AZURESPOT: n AZUREIF: n AZURESPS: n``)
and is written once per slot, as SpotLake writes it (ddps-lab/spotlake Azure collector ``upload_cloudwatch``,
observed 2026-01; its metric filters and dashboards parse the message):

- CloudWatch Logs: one event, ``message`` = the message exactly, ``timestamp`` = the slot in epoch ms;
- file: one line ``<slot ISO> <message>`` (``2025-12-13T13:00:00Z AZUREONDEMAND: ...``): the same message,
  with the slot in front because a file line has no event timestamp of its own.

A rerun of a slot (after a crash past the metrics step) writes nothing when the slot is already there.
"""

from __future__ import annotations

import logging
import os
import time as time_module
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from utils.errors import RunFailed
from utils.timestamps import slot_iso

log = logging.getLogger(__name__)


class MetricsSink(Protocol):
    def put(self, message: str, slot: datetime) -> None: ...


# CloudWatch Logs refuses events older than 14 days (PutLogEvents API reference, "None of the log events in
# the batch can be older than 14 days"); a margin keeps a slot at the edge from failing mid-run.
CLOUDWATCH_MAX_AGE_MS = (14 * 86_400 - 600) * 1000


def one_line(message: str) -> str:
    """The message with newlines folded, so it stays one event / one line."""
    return " ".join(message.splitlines())


def metrics_line(message: str, slot: datetime) -> str:
    """The file sink's line: the slot in ISO form, a space, the message."""
    return f"{slot_iso(slot)} {one_line(message)}"


def slot_epoch_ms(slot: datetime) -> int:
    return int(slot.astimezone(UTC).timestamp()) * 1000


class FileMetricsSink:
    """Appends one line per put to a local file (parent directory created), flushed and fsynced.

    A rerun of a slot (after a crash past the metrics step) writes nothing when a line of that slot is
    already among the file's last lines, so each slot's line appears once.
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
        prefix = f"{slot_iso(slot)} "
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if any(recent.startswith(prefix) for recent in self._recent_lines()):
                return
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise RunFailed(f"cannot append metrics to {self.path}: {exc.strerror or exc}") from exc


class CloudWatchMetricsSink:
    """CloudWatch Logs: creates the log group and stream when missing, then puts one event per slot, stamped
    with the slot — unless the stream already holds an event at that timestamp (a rerun of the slot).

    A slot older than CloudWatch accepts (14 days: a late backfill) is skipped with a warning, see ``put``.
    botocore's standard retry mode handles throttling and 5xx per call; this sink retries the whole put
    ``attempts`` times on top, then raises ``RunFailed``.
    """

    def __init__(
        self,
        client: Any,
        log_group: str,
        log_stream: str,
        *,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        sleep: Callable[[float], None] = time_module.sleep,
        clock: Callable[[], float] = time_module.time,
    ) -> None:
        self.client = client
        self.log_group = log_group
        self.log_stream = log_stream
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
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

    def _slot_logged(self, timestamp_ms: int) -> bool:
        """True when the stream holds an event stamped ``timestamp_ms`` (the slot's, from an earlier run)."""
        response = self.client.get_log_events(
            logGroupName=self.log_group, logStreamName=self.log_stream, startTime=timestamp_ms,
            endTime=timestamp_ms + 1, startFromHead=True, limit=10,
        )
        return any(event.get("timestamp") == timestamp_ms for event in response.get("events", []))

    def put(self, message: str, slot: datetime) -> None:
        event = {"timestamp": slot_epoch_ms(slot), "message": one_line(message)}
        too_old = int(self.clock() * 1000) - event["timestamp"] > CLOUDWATCH_MAX_AGE_MS
        last_error = "no attempt"
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))
            try:
                if not self._ready:
                    self._ensure_destination()  # also for a too-old slot: a broken destination fails every run
                if too_old:
                    # CloudWatch would reject the event. The count is a monitoring figure for the slot's
                    # dashboards, not data: the slot's dataset, records and state are complete without it,
                    # and failing would make a late backfill impossible. Logged so the gap is visible.
                    log.warning("cloudwatch metrics for %s skipped: older than CloudWatch Logs accepts (14 days)",
                                slot_iso(slot))  # fmt: skip
                    return
                if self._slot_logged(event["timestamp"]):
                    return  # a rerun of the slot: its event is already in the stream (one event per slot)
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
        # The backoff of the settings (SPOTLAKE_RETRY_BASE_DELAY / _MAX_DELAY), as for the other remote calls.
        return CloudWatchMetricsSink(logs_client, config.log_group, config.log_stream,
                                     backoff_seconds=settings.retry.base_delay,
                                     max_backoff_seconds=settings.retry.max_delay)  # fmt: skip
    if config.kind == "none":
        return NoneMetricsSink()
    raise ValueError(f"unknown metrics sink kind {config.kind!r}")
