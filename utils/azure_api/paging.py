"""The one paginator protocol of the Azure clients, and the loop that drives it. No I/O here.

A pager is told each page (``accept``); it says what to ask next (``next_request``) or that the list is
complete (``done``). It checks a page *before* taking anything from it, so a page that breaks a rule can be
re-fetched alone: ``accept`` raises ``RetriableError`` for a page worth asking again (an empty page that
still links on, a count that contradicts the rows) and ``RunFailed`` for a list that cannot be completed
(a continuation token or link that repeats one already followed: the listing would loop).

- ``NextLinkPaging``: ARM list operations, ``{"value": [...], "nextLink": ...}`` (docs/azure-facts.md 4.1).
- ``SkipTokenPaging``: a Resource Graph query, ``$skipToken`` (docs/azure-facts.md 3.2).
- Retail Prices pages by ``$skip`` offset, concurrently; its pager is ``utils.azure_api.prices.SkipPaging``, which
  gives its verdict as a ``Verdict`` too.

``drain(pager, fetch_page, policy, ...)`` is the sequential loop: each page is one ``utils.azure_api.http.fetch``
whose attempt requests the page and hands it to ``accept``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from utils.azure_api.http import fetch
from utils.azure_api.retry import RetryPolicy
from utils.errors import RetriableError, RunFailed


class Verdict(enum.StrEnum):
    """What a pager says once the pages so far are in."""

    MORE = "more"  # ask for the next page
    DONE = "done"  # the list is complete
    REFETCH = "refetch"  # a page that ended the list must be asked again (offset paging)


class Pager(Protocol):
    """What ``drain`` needs of a pager."""

    pages: int

    @property
    def done(self) -> bool: ...

    def next_request(self) -> str | None: ...

    def accept(self, page: Any) -> None: ...


@dataclass
class _TokenGuard:
    """Refuses a continuation (link or token) that repeats one already followed, in every pager."""

    what: str
    first: str | None = None
    _seen: set[str] = field(default_factory=set)

    def check(self, token: str | None) -> None:
        if token is not None and (token in self._seen or token == self.first):
            raise RunFailed(f"{self.what}: a continuation repeated; refusing to loop")

    def follow(self, token: str | None) -> None:
        if token is not None:
            self._seen.add(token)


@dataclass
class NextLinkPaging:
    """``nextLink`` paging (ARM list operations, docs/azure-facts.md 4.1).

    Sample page: ``{"value": [{"name": "Standard_D2s_v3", ...}], "nextLink": "https://.../skus?...&$skiptoken=x"}``.
    """

    first_url: str
    what: str = "Resource SKUs"
    records: list[dict[str, Any]] = field(default_factory=list)
    url: str | None = None
    pages: int = 0
    _guard: _TokenGuard = field(init=False)

    def __post_init__(self) -> None:
        self.url = self.first_url
        self._guard = _TokenGuard(self.what, first=self.first_url)

    @property
    def done(self) -> bool:
        return self.url is None

    def next_request(self) -> str | None:
        return self.url

    def accept(self, payload: Any) -> None:
        """Take one page ``{"value": [...], "nextLink": "..."|null}``.

        Raises:
            RetriableError: not a list page, or an empty page with a nextLink (re-send the same request).
            RunFailed: the next link repeats one already followed (the listing would loop).
        """
        if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
            raise RetriableError(f"{self.what} page: response is not a {{value: [...]}} page")
        link = payload.get("nextLink") or None
        if link is not None and not payload["value"]:
            # An empty page that still links on is a glitch (the emulator's "empty" fault links back to the
            # same page); re-requesting it is safe, following it blindly could loop.
            raise RetriableError(f"{self.what} page: empty page with a nextLink (gap)")
        self._guard.check(link)
        self.records.extend(payload["value"])
        self.pages += 1
        self._guard.follow(link)
        self.url = link


@dataclass
class SkipTokenPaging:
    """``$skipToken`` paging of one Resource Graph query (docs/azure-facts.md 3.2).

    ``accept(page)`` takes a response with ``total_records``, ``count``, ``result_truncated``,
    ``skip_token`` and ``data``; ``token`` is what to send next; ``done`` once a page has no token.

    Raises from ``accept``:
        RetriableError: the page contradicts itself (``count`` != rows) or is an empty page that still has a
            token (a gap): re-send the same request.
        RunFailed: a token repeats (the service would loop), the result is truncated (the query would lose
            rows), or the rows fetched differ from ``totalRecords`` at the end.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    token: str | None = None
    done: bool = False
    total: int | None = None
    pages: int = 0
    _guard: _TokenGuard = field(default_factory=lambda: _TokenGuard("Resource Graph"))

    def next_request(self) -> str | None:
        return self.token

    def accept(self, page: Any) -> None:
        data = page.data
        if not isinstance(data, list):
            raise RetriableError("Resource Graph page: data is not an object array")
        if page.count is not None and int(page.count) != len(data):
            raise RetriableError(f"Resource Graph page: count={page.count} but {len(data)} rows")
        next_token = page.skip_token or None
        if next_token is not None and not data:
            raise RetriableError("Resource Graph page: empty page with a $skipToken (gap)")
        if str(page.result_truncated).lower() == "true":
            raise RunFailed("Resource Graph: resultTruncated=true, the query would lose rows")
        self._guard.check(next_token)
        total = int(page.total_records) if page.total_records is not None else None
        if self.total is None:
            self.total = total
        self.rows.extend(data)
        self.pages += 1
        if next_token is None:
            self.done = True
            if self.total is not None and len(self.rows) != self.total:
                raise RunFailed(f"Resource Graph: fetched {len(self.rows)} rows, totalRecords={self.total}")
        self._guard.follow(next_token)
        self.token = next_token


def drain(pager: Pager, fetch_page: Callable[[str | None, str], Any], policy: RetryPolicy, *, what: str,
          on_retry: Callable[[RetriableError, int, float], None] | None = None,
          after_page: Callable[[Any], None] | None = None) -> None:
    """Fetch pages until ``pager.done``: each page is one ``fetch`` whose attempt is
    ``pager.accept(fetch_page(pager.next_request(), describe))``, so a bad page is asked again alone, never the list.

    ``fetch_page`` returns the page to accept, or ``(page, extra)`` handed to ``after_page(extra)`` once the
    page is in (Resource Graph's quota headers).
    """
    while not pager.done:
        describe = f"{what} page {pager.pages + 1}"
        request = pager.next_request()

        def attempt(request: str | None = request, describe: str = describe) -> Any:
            answer = fetch_page(request, describe)
            page, extra = answer if after_page is not None else (answer, None)
            pager.accept(page)
            return extra

        extra = fetch(policy, describe, attempt, on_retry=on_retry)
        if after_page is not None:
            after_page(extra)
