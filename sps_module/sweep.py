"""Run a plan of SPS calls: a bounded thread pool, quota from the ``QuotaLedger``, one retry policy.

Per planned call, until it has scores:

1. drop the regions/sizes already known invalid; an emptied call is done (nothing left to score);
2. take one call of quota from the ledger (round robin); none left -> the call is *not made*, and the
   sweep stops handing out calls (docs/contract.md 8: keep what was collected, record the calls not made);
3. POST with a current bearer token;
4. by answer, read through the one outcome table (``utils.azure_api.classify``): 200 -> scores of the pairs
   this call asked (matched case-insensitively; items for pairs it did not ask are ignored and counted,
   ``utils.azure_api.sps.match_answer``); 429 (plain text, docs/azure-facts.md 1.6) -> bench that
   (subscription, location) for the window and go back to 2 on another bucket (never sleep its
   Retry-After, which can say 3600); 400 naming invalid regions/sizes of this call (docs/azure-facts.md 8)
   -> learn them, drop them, go back to 1; a 400 that names nothing of this call (unreadable) -> retried once, then
   the call is *dropped*: its pairs are lost and counted, the sweep goes on; 401 -> refresh the token once
   and resend; timeouts, connection errors, 5xx, ``NoRegisteredProviderFound``, malformed JSON -> back off
   and retry up to ``max_attempts`` times (``utils.azure_api.retry.RetryPolicy`` backoff); 403 and other 4xx ->
   the run fails.

Each planned call ends in one ``CallOutcome`` (made / not made / dropped) and the sweep as a whole in one
``SweepOutcome`` (complete / partial / all dropped): enums rather than bare strings, so a misspelt outcome is
an error instead of a silently uncounted call; they are ``StrEnum`` because their values are logged (the
progress line's ``made=``/``not_made=``/``dropped=`` counters) and must read as before.

Every HTTP attempt spends one unit of quota in the ledger (retries, 429s and 400s included), so the ledger
never undercounts what Azure may have counted; only a 401 is refunded (ARM rejects the token before the
request reaches the SPS resource provider).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import requests
from azure.core.exceptions import ClientAuthenticationError

from sps_module.quota_ledger import Bucket, QuotaLedger
from sps_module.request_planner import PlannedCall
from utils.azure_api.classify import Outcome, classify
from utils.azure_api.retry import RetryPolicy
from utils.azure_api.sps import (
    MalformedResponse,
    build_request_body,
    match_answer,
    parse_response_json,
    placement_scores_url,
    post_placement_scores,
)
from utils.errors import RunFailed
from utils.logs import Progress

log = logging.getLogger(__name__)


# 401 after a refreshed token this many times in a row for one call: the credential is not accepted.
MAX_TOKEN_REFRESHES = 2
# Attempts of one call that keep earning a 400 naming nothing we can drop: one retry (a transient
# ``InvalidParameter`` at a gateway), but a 400 is about the request, so then the call is dropped.
MAX_UNREADABLE_ATTEMPTS = 2


class CallOutcome(StrEnum):
    """How one planned call ended (the value is the progress line's counter name)."""

    MADE = "made"  # scored, or emptied by values known invalid (nothing left to score)
    NOT_MADE = "not_made"  # no quota left (or the sweep failed) before it was sent: its pairs keep T2/T3
    DROPPED = "dropped"  # given up after unreadable 400s: its pairs are lost, the sweep went on


class SweepOutcome(StrEnum):
    """How a sweep that returned ended (a sweep whose fault outlived its retries raises instead)."""

    COMPLETE = "complete"  # every planned call was sent (made, or dropped with at least one other made)
    PARTIAL = "partial"  # quota ran out: some calls not made (docs/contract.md 8: a partial success)
    ALL_DROPPED = "all_dropped"  # calls were dropped and none was made: the API or our request is broken


def default_retry_policy() -> RetryPolicy:
    """Transient faults of one SPS call: 5 attempts, full-jitter backoff up to 8 s (utils.azure_api.http)."""
    return RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=8.0)


@dataclass
class SweepResult:
    """What a sweep did. ``items`` are the matched placement-score items of every successful call, in plan
    order (whatever order the threads finished in, so the first of two conflicting scores is always the
    same one)."""

    items_by_call: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    calls_planned: int = 0
    calls_made: int = 0  # planned calls that returned scores (or were emptied by invalid values)
    calls_not_made: int = 0  # planned calls skipped for lack of quota
    calls_dropped: int = 0  # calls given up after unreadable 400s: their pairs are lost, the sweep went on
    pairs_dropped: int = 0  # (region, size) pairs of the dropped calls
    items_ignored: int = 0  # answer items for pairs the call did not ask (unasked pair, unmatched region)
    pairs_unanswered: int = 0  # asked pairs of a 200 answer without any item
    http_requests: int = 0
    http_429: int = 0
    retries: int = 0
    token_refreshes: int = 0
    invalid_regions: set[str] = field(default_factory=set)
    invalid_sizes: set[str] = field(default_factory=set)
    # The calls (by their index in the sweep order) that got no quota. Threads race for the last quota units,
    # so these are not always the tail of the order: the next sweep must start at the first of them.
    not_made: set[int] = field(default_factory=set)

    def first_not_made(self) -> int | None:
        """Index (in the sweep order) of the first call that got no quota; None when every call ran."""
        return min(self.not_made) if self.not_made else None

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for index in sorted(self.items_by_call) for item in self.items_by_call[index]]

    @property
    def partial(self) -> bool:
        return self.calls_not_made > 0

    @property
    def outcome(self) -> SweepOutcome:
        """Every call dropped outranks a quota cut: nothing was scored, whatever else happened."""
        if self.calls_dropped and not self.calls_made:
            return SweepOutcome.ALL_DROPPED
        return SweepOutcome.PARTIAL if self.partial else SweepOutcome.COMPLETE


class _Sweep:
    def __init__(self, *, session: requests.Session, auth: Any, ledger: QuotaLedger, clock: Callable[[], float],
                 desired_count: int, timeout: float, policy: RetryPolicy, progress: Progress,
                 known_invalid_regions: set[str], known_invalid_sizes: set[str]) -> None:
        self.session = session
        self.auth = auth
        self.ledger = ledger
        self.clock = clock
        self.count = desired_count
        self.timeout = timeout
        self.policy = policy
        self.progress = progress
        self.lock = threading.Lock()
        self.out_of_quota = threading.Event()
        self.failed = threading.Event()
        self.result = SweepResult()
        self.bad_regions = {r.lower() for r in known_invalid_regions}
        self.bad_sizes = {s.lower() for s in known_invalid_sizes}

    def _count(self, **counters: int) -> None:
        with self.lock:
            for name, value in counters.items():
                setattr(self.result, name, getattr(self.result, name) + value)
        self.progress.count(**counters)

    def _filtered(self, regions: list[str], sizes: list[str]) -> tuple[list[str], list[str]]:
        with self.lock:
            return ([r for r in regions if r.lower() not in self.bad_regions],
                    [s for s in sizes if s.lower() not in self.bad_sizes])

    def _learn(self, regions: tuple[str, ...], sizes: tuple[str, ...]) -> None:
        if not regions and not sizes:
            return
        with self.lock:
            self.bad_regions |= {r.lower() for r in regions}
            self.bad_sizes |= {s.lower() for s in sizes}
            self.result.invalid_regions |= set(regions)
            self.result.invalid_sizes |= set(sizes)
        log.warning("SPS named invalid regions %s sizes %s: dropped and remembered", list(regions), list(sizes))

    def _no_quota(self, index: int) -> CallOutcome:
        """A call not made for lack of quota: remembered by its index, where the next sweep starts. (A call
        abandoned because another call failed is not: the failed sweep's cursor does not depend on which
        threads were still running.)"""
        with self.lock:
            self.result.not_made.add(index)
        return CallOutcome.NOT_MADE

    def run_call(self, call: PlannedCall, index: int = 0) -> CallOutcome:
        """How the call ended; raises RunFailed when a fault outlives its retries."""
        regions, sizes = list(call.regions), list(call.sizes)
        failures = 0
        unreadable = 0
        refreshes = 0
        avoid: list[Bucket] = []
        while True:
            if self.failed.is_set():
                return CallOutcome.NOT_MADE
            regions, sizes = self._filtered(regions, sizes)
            if not regions or not sizes:
                return CallOutcome.MADE
            if self.out_of_quota.is_set():
                return self._no_quota(index)
            taken_at = self.clock()
            bucket = self.ledger.acquire(taken_at, avoid=avoid)
            if bucket is None:
                if not self.out_of_quota.is_set():
                    log.warning("no SPS quota left in any (subscription, location): stopping the sweep")
                self.out_of_quota.set()
                return self._no_quota(index)
            subscription, location = bucket
            url = placement_scores_url(self.auth.arm_endpoint, subscription, location)
            body = build_request_body(regions, sizes, self.count)
            self._count(http_requests=1)
            try:
                token = self.auth.bearer_token()
            except ClientAuthenticationError as exc:  # the credential's own retries are spent
                raise RunFailed(f"no Azure token for SPS calls: {str(exc.message)[:200]}") from None
            try:
                response = post_placement_scores(self.session, url, token, body, self.timeout)
                status = response.status_code
                text = "" if status == 200 else response.text
                items = parse_response_json(response) if status == 200 else None
            except (requests.RequestException, MalformedResponse) as exc:
                failures = self._retry_or_fail(failures, f"{type(exc).__name__}: {str(exc)[:200]}", bucket)
                continue
            if items is not None:
                answer_items = match_answer(items, regions, sizes)
                with self.lock:
                    self.result.items_by_call[index] = answer_items.items
                    self.result.items_ignored += answer_items.ignored
                    self.result.pairs_unanswered += answer_items.pairs_unanswered
                return CallOutcome.MADE
            answer = classify(status, text)
            if answer.kind is Outcome.THROTTLED:
                self.ledger.mark_over_limit(bucket, self.clock())
                self._count(http_429=1)
                log.warning("SPS 429 on %s/%s: benched for the quota window, call moved", subscription, location)
                avoid = [bucket]
                continue
            if answer.kind is Outcome.AUTH:
                refreshes += 1
                if refreshes > MAX_TOKEN_REFRESHES:
                    raise RunFailed(f"SPS kept answering 401 after token refresh: {answer.message}")
                self.ledger.refund(bucket, taken_at)
                self.auth.invalidate_token()
                self._count(token_refreshes=1)
                continue
            if answer.kind is Outcome.INVALID:
                # Learn only what this call asked: a 400 naming something else says nothing about it.
                # Names compare case-insensitively; what is remembered is the name as asked.
                asked_regions = {r.lower(): r for r in regions}
                asked_sizes = {s.lower(): s for s in sizes}
                named_regions = tuple(asked_regions[r.lower()] for r in answer.invalid_regions
                                      if r.lower() in asked_regions)
                named_sizes = tuple(asked_sizes[s.lower()] for s in answer.invalid_sizes if s.lower() in asked_sizes)
                if named_regions or named_sizes:
                    self._learn(named_regions, named_sizes)
                    continue
                answer = dataclasses.replace(answer, kind=Outcome.BAD_REQUEST)
            if answer.kind is Outcome.BAD_REQUEST:
                unreadable += 1
                if unreadable >= MAX_UNREADABLE_ATTEMPTS:
                    lost = len(regions) * len(sizes)
                    self._count(calls_dropped=1, pairs_dropped=lost)
                    log.warning("SPS call dropped after %d unreadable 400s (%d pairs lost, the sweep goes on): %s",
                                unreadable, lost, answer.message[:300])
                    return CallOutcome.DROPPED
                failures = self._retry_or_fail(failures, f"HTTP 400 {answer.message}", bucket)
                continue
            if answer.kind is Outcome.RETRY:
                failures = self._retry_or_fail(failures, f"HTTP {status} {answer.message}", bucket)
                continue
            raise RunFailed(f"SPS call refused with HTTP {status} on subscription {subscription} location "
                            f"{location}: {answer.message}")

    def _retry_or_fail(self, failures: int, reason: str, bucket: Bucket) -> int:
        failures += 1
        if failures >= self.policy.max_attempts:
            raise RunFailed(f"SPS call failed {failures} times, last on {bucket[0]}/{bucket[1]}: {reason}")
        self._count(retries=1)
        delay = self.policy.delay(failures)
        log.warning("SPS call attempt %d/%d failed (%s); retrying in %.2fs", failures, self.policy.max_attempts,
                    reason, delay)
        self.policy.sleep(delay)
        return failures


def run_sweep(calls: Sequence[PlannedCall], *, session: requests.Session, auth: Any, ledger: QuotaLedger,
              clock: Callable[[], float], desired_count: int, workers: int, timeout: float,
              policy: RetryPolicy | None = None, known_invalid_regions: set[str] | None = None,
              known_invalid_sizes: set[str] | None = None,
              progress_logger: logging.Logger | None = None, result: SweepResult | None = None) -> SweepResult:
    """Execute ``calls`` (see the module docstring); returns what was collected and counted.

    ``result`` (optional) is filled in place, so a caller still sees the counters and the invalid values
    learned when the sweep raises.

    Raises:
        RunFailed: a call failed past its retries, was refused (403/4xx), or 401 persisted after refresh.
    """
    progress = Progress(progress_logger or log, "sps calls", total=len(calls))
    sweep = _Sweep(session=session, auth=auth, ledger=ledger, clock=clock, desired_count=desired_count,
                   timeout=timeout, policy=policy or default_retry_policy(), progress=progress,
                   known_invalid_regions=known_invalid_regions or set(),
                   known_invalid_sizes=known_invalid_sizes or set())
    if result is not None:
        sweep.result = result
    sweep.result.calls_planned = len(calls)

    def task(call: PlannedCall, index: int) -> CallOutcome:
        outcome = sweep.run_call(call, index)
        with sweep.lock:
            if outcome is CallOutcome.MADE:
                sweep.result.calls_made += 1
            elif outcome is CallOutcome.NOT_MADE:
                sweep.result.calls_not_made += 1
            # DROPPED: counted (calls_dropped, pairs_dropped) where it was given up
        progress.advance(1, **{outcome.value: 1})
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sps") as pool:
        futures = [pool.submit(task, call, index) for index, call in enumerate(calls)]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # a stop signal (utils/entrypoint.py): queued calls must not run first
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        error = next((f.exception() for f in done if f.exception() is not None), None)
        if error is not None:
            sweep.failed.set()
            for future in futures:
                future.cancel()
    progress.finish()
    if error is not None:
        raise error
    return sweep.result
