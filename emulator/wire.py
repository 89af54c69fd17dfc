"""Transport-neutral request/response values passed between the HTTP layer and the API handlers.

Handlers take an ``ApiRequest`` and return an ``ApiResponse`` (or raise ``errors.EmulatorError``); they never
touch sockets, so they are unit-testable and the HTTP layer stays a thin shell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class ApiRequest:
    """One parsed HTTP request.

    Attributes:
        method: upper-case HTTP method.
        path: URL path, percent-decoded.
        query: query parameters in the order sent (a repeated name keeps the last value).
        headers: header names lower-cased.
        body: raw body bytes.
        base_url: ``http://host:port`` the client used (NextPageLink / nextLink point back to it).
        params: named path segments from the route (``subscription``, ``location``, ``tenant``).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        """Query parameter by name, case-insensitively (ARM treats ``$Filter`` like ``$filter``)."""
        wanted = name.lower()
        for key, value in self.query.items():
            if key.lower() == wanted:
                return value
        return None


@dataclass
class ApiResponse:
    """What the HTTP layer writes back: status, extra headers, body bytes and content type."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_CONTENT_TYPE

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> ApiResponse:
        """A JSON response; ``payload`` may be pre-serialised ``bytes``."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        return cls(status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def text(cls, status: int, text: str, headers: dict[str, str] | None = None) -> ApiResponse:
        """A plain-text response (the SPS quota 429 body is plain text, docs/azure-facts.md 1.6)."""
        return cls(status=status, body=text.encode(), headers=dict(headers or {}), content_type=TEXT_CONTENT_TYPE)
