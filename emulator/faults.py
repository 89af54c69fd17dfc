"""Fault plan: which call of which API misbehaves, and how. Pure model; the HTTP layer applies it.

Spec syntax (``--faults``, ``POST /_emulator/faults``, ``emu.set_faults``)::

    SPEC     := RULE (";" RULE)*            empty spec = no faults
    RULE     := API ":" KIND ["(" NUMBER ")"] ["@" SELECTOR]
    API      := prices | resource_graph | skus | sps | token | *
    KIND     := 429 | 500 | 502 | 503 | reset | slow | truncated | malformed | empty | extra | missing | nolink
              | casing | unasked | badrequest   (SPS only)
    SELECTOR := calls=N[,N...]              1-based call numbers of that API
              | rate=F                      share of calls, 0 < F <= 1, seeded and deterministic
              | always                      every call (the default when "@" is omitted)

``NUMBER`` is the Retry-After seconds for ``429`` and the sleep seconds for ``slow``. Examples::

    sps:429@calls=2,3;prices:500@rate=0.05;skus:reset@calls=1
    resource_graph:empty@calls=2;sps:slow(2.5)@calls=1

Call numbers count the calls of that API since the plan was installed (start-up, ``reset`` or a new spec).
The first rule that matches a call wins.

``rate`` draws are a hash of (seed, rule, API, request identity, attempt), where the identity is what the
request asks for (for SPS the body: locations, sizes, count; for the paged APIs the path and query) and the
attempt counts the requests with that identity since the plan was installed. So a call and each of its
retries draw the same faults whatever the thread interleaving of a concurrent client (a shared call counter
made ``sps:500@rate=0.2`` give one call five 500s in a row in one run and none in the next). A caller that
gives no identity draws on the API's call number, as before. ``empty`` only exists for the paged APIs (prices,
resource_graph, skus); ``nolink`` (the page as served, ``NextPageLink`` null) only for prices.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

APIS: tuple[str, ...] = ("prices", "resource_graph", "skus", "sps", "token")
PAGED_APIS: frozenset[str] = frozenset({"prices", "resource_graph", "skus"})
KINDS: tuple[str, ...] = ("429", "500", "502", "503", "reset", "slow", "truncated", "malformed", "empty", "extra",
                         "missing", "nolink", "casing", "unasked", "badrequest")
# Answer faults of the SPS API only (emulator/apis/sps.py ``reshape_answer``): ``casing`` spells every ARM
# name of the answer in upper case (ARM names are case-insensitive; issue 14.8), ``unasked`` adds scores for
# pairs the call did not ask, with another score than the real one (issue 14.10); ``badrequest`` answers a
# 400 ``InvalidParameter`` whose message names no value (one the client cannot act on; issue 14.9).
SPS_ONLY_KINDS: frozenset[str] = frozenset({"casing", "unasked", "badrequest"})
DEFAULT_SLOW_SECONDS = 30.0
# Retry-After of an injected 429 per API when the rule gives none (plausible real values, docs/azure-facts.md
# 1.6/2.5/3.3).
DEFAULT_RETRY_AFTER: dict[str, int] = {"prices": 60, "resource_graph": 2, "skus": 10, "sps": 3600, "token": 5}

_RULE_RE = re.compile(
    r"^(?P<api>[a-z_*]+):(?P<kind>[a-z0-9]+)(?:\((?P<param>[0-9]+(?:\.[0-9]+)?)\))?(?:@(?P<selector>.+))?$"
)


class FaultSpecError(ValueError):
    """A fault spec that does not parse; the message says what is wrong and shows the syntax."""


@dataclass(frozen=True)
class Fault:
    """One fault to apply to one call."""

    kind: str
    param: float | None = None

    def retry_after(self, api: str) -> int:
        return int(self.param) if self.param is not None else DEFAULT_RETRY_AFTER[api]

    def slow_seconds(self) -> float:
        return self.param if self.param is not None else DEFAULT_SLOW_SECONDS


@dataclass(frozen=True)
class FaultRule:
    api: str
    kind: str
    param: float | None
    calls: frozenset[int] | None
    rate: float | None

    def matches(self, api: str, call_number: int, seed: int, index: int, draw_key: str | None = None) -> bool:
        """Whether this rule hits a call; ``draw_key`` (identity + attempt) replaces the call number in the
        ``rate`` draw when given (see the module docstring)."""
        if self.api not in ("*", api):
            return False
        if self.calls is not None:
            return call_number in self.calls
        if self.rate is not None:
            key = draw_key if draw_key is not None else str(call_number)
            digest = hashlib.blake2b(f"{seed}|{index}|{api}|{key}".encode(), digest_size=8).digest()
            return int.from_bytes(digest, "big") / 2**64 < self.rate
        return True


def parse_fault_spec(spec: str | None) -> tuple[FaultRule, ...]:
    """Parse a spec string into rules.

    Raises:
        FaultSpecError: unknown API or kind, bad selector, ``empty`` on an unpaged API.
    """
    rules: list[FaultRule] = []
    for raw in (spec or "").split(";"):
        text = raw.strip().replace(" ", "")
        if not text:
            continue
        match = _RULE_RE.match(text)
        if not match:
            raise FaultSpecError(f"bad fault rule {raw.strip()!r}; expected API:KIND[(N)][@calls=1,2|@rate=0.1]")
        api, kind, param, selector = match["api"], match["kind"], match["param"], match["selector"]
        if api != "*" and api not in APIS:
            raise FaultSpecError(f"unknown API {api!r} in fault rule {text!r}; one of {', '.join(APIS)} or *")
        if kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} in {text!r}; one of {', '.join(KINDS)}")
        if kind == "empty" and api not in PAGED_APIS:
            raise FaultSpecError(f"'empty' needs a paged API ({', '.join(sorted(PAGED_APIS))}), not {api!r}")
        if kind == "nolink" and api != "prices":
            raise FaultSpecError(f"'nolink' only exists for prices, not {api!r}")
        if kind in SPS_ONLY_KINDS and api != "sps":
            raise FaultSpecError(f"{kind!r} is an SPS answer fault: use sps:{kind}, not {api!r}")
        if param is not None and kind not in ("429", "slow"):
            raise FaultSpecError(f"only 429 (Retry-After) and slow (seconds) take a number: {text!r}")
        calls, rate = _parse_selector(selector, text)
        rules.append(FaultRule(api, kind, float(param) if param is not None else None, calls, rate))
    return tuple(rules)


def _parse_selector(selector: str | None, text: str) -> tuple[frozenset[int] | None, float | None]:
    if selector is None or selector == "always":
        return None, None
    name, _, value = selector.partition("=")
    if name == "calls":
        try:
            numbers = frozenset(int(v) for v in value.split(","))
        except ValueError:
            raise FaultSpecError(f"calls= needs 1-based integers, got {value!r} in {text!r}") from None
        if not numbers or min(numbers) < 1:
            raise FaultSpecError(f"calls= needs 1-based integers, got {value!r} in {text!r}")
        return numbers, None
    if name == "rate":
        try:
            rate = float(value)
        except ValueError:
            raise FaultSpecError(f"rate= needs a number in (0, 1], got {value!r} in {text!r}") from None
        if not 0 < rate <= 1:
            raise FaultSpecError(f"rate= needs a number in (0, 1], got {value!r} in {text!r}")
        return None, rate
    raise FaultSpecError(f"unknown selector {selector!r} in {text!r}; use calls=..., rate=... or always")


class FaultPlan:
    """Installed rules plus per-API call counters; thread-safe."""

    def __init__(self, spec: str | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self.spec = ""
        self._rules: tuple[FaultRule, ...] = ()
        self._calls: dict[str, int] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self.install(spec)

    def install(self, spec: str | None) -> None:
        """Replace the rules (raises ``FaultSpecError`` and keeps the old plan on a bad spec)."""
        rules = parse_fault_spec(spec)
        with self._lock:
            self.spec = spec or ""
            self._rules = rules
            self._calls = {}
            self._attempts = {}

    def next_call(self, api: str, identity: bytes | str | None = None) -> Fault | None:
        """Count one call of ``api`` and return the fault to apply to it, if any.

        ``identity``: what the request asks for (``request_identity``); ``rate`` rules then draw on
        (identity, attempt) instead of the API's call number, independent of the order of concurrent calls.
        """
        digest = None if identity is None else hashlib.blake2b(
            identity.encode() if isinstance(identity, str) else identity, digest_size=12).hexdigest()
        with self._lock:
            number = self._calls.get(api, 0) + 1
            self._calls[api] = number
            draw_key = None
            if digest is not None:
                attempt = self._attempts.get((api, digest), 0) + 1
                self._attempts[(api, digest)] = attempt
                draw_key = f"{digest}|{attempt}"
            rules = self._rules
        for index, rule in enumerate(rules):
            if rule.matches(api, number, self._seed, index, draw_key):
                return Fault(rule.kind, rule.param)
        return None


def request_identity(api: str, method: str, path: str, query: dict[str, str], body: bytes) -> bytes:
    """What a request asks for, for ``rate`` draws: the same for a call and its retries.

    SPS: the body only (a retry of the same call goes to another subscription/endpoint location, the quota
    bucket, so the path differs). Other APIs: method, path (lower case: ARM paths are case-insensitive),
    sorted query and body (a page's offset or skip token is in the query or the body).
    """
    if api == "sps":
        return b"sps|" + body
    query_text = "&".join(f"{k.lower()}={v}" for k, v in sorted(query.items(), key=lambda kv: kv[0].lower()))
    return f"{api}|{method}|{path.lower()}|{query_text}|".encode() + body
