"""Line-oriented logging (docs/contract.md 9): one event per line with time, level and component.

``setup_logging("price")`` once in an entry point; modules use ``logging.getLogger(__name__)`` and the
component tag comes from the process. ``Progress`` logs done/total, rate and extra counters for a long
phase at most every ``interval`` seconds (15 s by default, the ceiling docs/contract.md 9 sets) and once at the end.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

_FORMAT = "%(asctime)s %(levelname)s [%(component)s] %(name)s: %(message)s"


class _ComponentFilter(logging.Filter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "component"):
            record.component = self.component
        # One event per line: a multi-line message (e.g. a traceback) is folded with a visible marker.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = record.exc_text.replace("\n", " | ")
        return True


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def setup_logging(component: str, level: int = logging.INFO) -> logging.Logger:
    """Configure the root logger for this process; returns the component's logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    formatter = _OneLineFormatter(_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_ComponentFilter(component))
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party clients are chatty at INFO (every HTTP request); their warnings still show.
    for noisy in ("azure", "botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(component)


class Progress:
    """Thread-safe progress reporter for a long phase.

    >>> p = Progress(logging.getLogger("price"), "pages", total=120)
    >>> p.advance(1, items=1000)   # logs at most every 15 s: "pages 1/120 (0.8%) 3.1/s items=1000"
    >>> p.finish()                 # always logs the final line
    """

    def __init__(
        self,
        logger: logging.Logger,
        phase: str,
        total: int | None = None,
        interval: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._phase = phase
        self.total = total
        self._interval = interval
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._lock = threading.Lock()
        self.done = 0
        self.counters: dict[str, int] = {}

    def advance(self, n: int = 1, **counters: int) -> None:
        with self._lock:
            self.done += n
            for name, value in counters.items():
                self.counters[name] = self.counters.get(name, 0) + value
            now = self._clock()
            if now - self._last >= self._interval:
                self._last = now
                self._logger.info(self._line(now))

    def count(self, **counters: int) -> None:
        """Add to counters (throttles, retries) without advancing."""
        self.advance(0, **counters)

    def finish(self) -> None:
        with self._lock:
            self._logger.info(self._line(self._clock()) + " done")

    def _line(self, now: float) -> str:
        elapsed = max(now - self._start, 1e-9)
        if self.total:
            head = f"{self._phase} {self.done}/{self.total} ({100.0 * self.done / self.total:.1f}%)"
        else:
            head = f"{self._phase} {self.done}"
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.counters.items()))
        return f"{head} {self.done / elapsed:.1f}/s elapsed={elapsed:.1f}s {extra}".rstrip()
