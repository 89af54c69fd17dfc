"""The one retry policy for calls to Azure: bounded attempts, exponential backoff with full jitter, a capped
Retry-After.

Backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter",
https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): retry ``n`` sleeps
uniform(0, min(max_delay, base_delay * 2**(n-1))). A server's Retry-After is honoured but capped at
``max_retry_after`` (a real SPS 429 says "try again after 3600 seconds", docs/azure-facts.md 1.6; azure-core
would sleep it in full, docs/azure-facts.md 5.3). Entry points build one policy from ``Settings``
(``RetryPolicy.from_settings``, the SPOTLAKE_RETRY_* variables) and pass it down to every client.

    policy = RetryPolicy.from_settings(settings)
    page = policy.call(lambda: one_attempt(), describe="prices page 3")
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from utils.errors import RetriableError, RunFailed

log = logging.getLogger(__name__)
T = TypeVar("T")


# Azure sends Retry-After in seconds; Retail Prices has its own header (docs/azure-facts.md 2.5); azure-core also
# honours the millisecond variants (docs/azure-facts.md 5.3).
_RETRY_AFTER_HEADERS_SECONDS = ("retry-after", "x-ms-ratelimit-retailprices-retry-after")
_RETRY_AFTER_HEADERS_MS = ("retry-after-ms", "x-ms-retry-after-ms")


def parse_retry_after(headers: Any, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds to wait from a response's headers (a case-insensitive mapping), or None when absent/unreadable.

    >>> parse_retry_after({"Retry-After": "2"})
    2.0
    """
    lowered = {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    for name in _RETRY_AFTER_HEADERS_MS:
        value = lowered.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                continue  # unreadable hint: fall through to the other headers / plain backoff
    for name in _RETRY_AFTER_HEADERS_SECONDS:
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            pass  # not a number: RFC 9110 also allows an HTTP date, tried next
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue  # unreadable hint: plain backoff applies
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now()).total_seconds())
    return None


_RETRY_AFTER_TEXT = re.compile(r"try again after '?(\d+)'? seconds", re.IGNORECASE)


def retry_after_from_text(text: str) -> float | None:
    """The wait named in a throttling message body ("Please try again after 3600 seconds.", docs/azure-facts.md 1.6)."""
    match = _RETRY_AFTER_TEXT.search(text or "")
    return float(match.group(1)) if match else None


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff, full jitter and a capped Retry-After.

    Attributes:
        max_attempts: total attempts including the first (>= 1).
        base_delay: backoff scale in seconds; retry ``n`` (1-based) sleeps uniform(0, min(max_delay,
            base_delay * 2**(n-1))).
        max_delay: ceiling of the exponential backoff.
        max_retry_after: ceiling applied to a server's Retry-After (a longer hint is cut to this).
        sleep: injected for tests.
        jitter: injected for tests (returns a float in [0, 1)).
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> RetryPolicy:
        """The policy configured by ``settings.retry`` (SPOTLAKE_RETRY_* variables), with overrides."""
        config = settings.retry
        values = {
            "max_attempts": config.max_attempts,
            "base_delay": config.base_delay,
            "max_delay": config.max_delay,
            "max_retry_after": config.max_retry_after,
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must be >= 0")

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``retry`` (1-based).

        With a server hint: the hint capped at ``max_retry_after`` (never less than the hint's cap, so a
        throttled client does not come back early); without: full-jitter exponential backoff.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(retry - 1, 0)))
        return ceiling * self.jitter()

    def call(
        self,
        fn: Callable[[], T],
        *,
        describe: str,
        on_retry: Callable[[RetriableError, int, float], None] | None = None,
    ) -> T:
        """Run ``fn`` until it returns, retrying ``RetriableError`` up to ``max_attempts`` in all.

        Args:
            fn: one attempt; raises ``RetriableError`` for a transient fault, anything else to stop.
            describe: what is being done, for messages ("prices page $skip=3000"); no secrets, no URLs
                with credentials.
            on_retry: called as ``on_retry(error, retry_number, delay)`` before each sleep (progress counters).

        Raises:
            RunFailed: the last attempt still raised ``RetriableError``.
            Any other exception ``fn`` raises, unchanged, at once.
        """
        attempt = 1
        while True:
            try:
                return fn()
            except RetriableError as exc:
                if attempt >= self.max_attempts:
                    raise RunFailed(f"{describe}: gave up after {attempt} attempts: {exc}") from exc
                wait = self.delay(attempt, exc.retry_after)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.2fs",
                            describe, attempt, self.max_attempts, exc, wait)
                if on_retry is not None:
                    on_retry(exc, attempt, wait)
                self.sleep(wait)
                attempt += 1
