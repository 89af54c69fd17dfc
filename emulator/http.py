"""HTTP shell: the route table, fault application, latency, stats, and the threaded server.

Handlers (``emulator.apis.*``) see an ``ApiRequest`` and return an ``ApiResponse``; this module is the only
one that touches sockets. Routes are data (``ROUTES``): method, path regex, API name for stats/faults
(None = control plane), whether an ARM bearer token is required, handler.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from emulator.apis import admin, prices, resource_graph, skus, sps, token
from emulator.errors import ArmError, EmulatorError, NotImplementedOperation, server_error, throttled
from emulator.faults import Fault, request_identity
from emulator.state import EmulatorState
from emulator.wire import ApiRequest, ApiResponse

log = logging.getLogger("emulator")

Handler = Callable[[ApiRequest, EmulatorState, bool], ApiResponse]
_SEG = r"(?P<{}>[^/]+)"


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    api: str | None
    needs_token: bool
    handler: Handler


def _route(method: str, path: str, api: str | None, needs_token: bool, handler: Handler) -> Route:
    regex = "^" + re.sub(r"\{(\w+)\}", lambda m: _SEG.format(m.group(1)), path) + "/?$"
    return Route(method, re.compile(regex, re.IGNORECASE), api, needs_token, handler)


ROUTES: tuple[Route, ...] = (
    _route("GET", "/api/retail/prices", "prices", False, prices.handle),
    _route("POST", "/providers/Microsoft.ResourceGraph/resources", "resource_graph", True, resource_graph.handle),
    _route("GET", "/subscriptions/{subscription}/providers/Microsoft.Compute/skus", "skus", True, skus.handle),
    _route("POST", "/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{location}"
                   "/placementScores/spot/generate", "sps", True, sps.handle),
    _route("GET", "/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{location}"
                  "/placementScores/spot", "sps", True, sps.handle_metadata),
    _route("POST", "/{tenant}/oauth2/v2.0/token", "token", False, token.handle_token),
    _route("GET", "/{tenant}/v2.0/.well-known/openid-configuration", "token", False,
           token.handle_openid_configuration),
    _route("GET", "/_emulator/stats", None, False, admin.handle_stats),
    _route("POST", "/_emulator/reset", None, False, admin.handle_reset),
    _route("GET", "/_emulator/faults", None, False, admin.handle_get_faults),
    _route("POST", "/_emulator/faults", None, False, admin.handle_set_faults),
    _route("POST", "/_emulator/clock", None, False, admin.handle_clock),
)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        if route.method == method:
            match = route.pattern.match(path)
            if match:
                return route, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


# Schema faults: the list of items in each API's answer, and the field ``missing`` removes from every item (the
# field that carries the data: a client must notice, not publish a default). Resource Graph rows are the
# collector's KQL projection, so every key containing "evictionrate" goes.
ITEM_LISTS = ("Items", "data", "value", "placementScores")
MISSING_FIELDS: dict[str, tuple[str, ...]] = {
    "prices": ("retailPrice", "unitPrice"), "resource_graph": ("evictionrate",), "skus": ("family",),
    "sps": ("score",), "token": ("access_token",),
}  # fmt: skip
EXTRA_FIELDS = {"emulatorUnknownField": "added by the extra fault", "emulatorUnknownNumber": 42}


def reshape(body: bytes, fault: Fault, api: str) -> bytes:
    """Apply a schema fault to a JSON answer: ``extra`` adds unknown fields to the envelope and every item,
    ``missing`` removes ``MISSING_FIELDS[api]`` from every item (the token answer is its own item)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body  # not JSON (e.g. an SPS 429 text body): nothing to reshape
    if not isinstance(payload, dict):
        return body
    items = [item for key in ITEM_LISTS if isinstance(payload.get(key), list) for item in payload[key]]
    if isinstance(payload.get("data"), dict):  # Resource Graph table format: drop/add columns is not modelled
        items = []
    targets = [payload] if api == "token" else [i for i in items if isinstance(i, dict)]
    if fault.kind == "extra":
        payload.update(EXTRA_FIELDS)
        for item in targets:
            item.update(EXTRA_FIELDS)
    else:
        drop = MISSING_FIELDS[api]
        for item in targets:
            for name in [k for k in item if any(d.lower() in k.lower() for d in drop)]:
                del item[name]
    return json.dumps(payload).encode()


def mangle(body: bytes, fault: Fault) -> bytes:
    """Apply a body fault: ``truncated`` cuts the body mid-way, ``malformed`` makes it invalid JSON."""
    if fault.kind == "truncated":
        return body[: max(1, len(body) // 2)]
    if fault.kind == "malformed":
        return body[:-1] + b",}<!-- emulator: malformed -->" if body else b"{,}"
    return body


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded HTTP/1.1 server carrying the emulator state."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        super().__init__(address, _RequestHandler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that drops its connection is normal (timeouts, fault tests); anything else is logged."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        log.exception("request from %s failed", client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AzureEmulator/1.0"
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one send (see _send); without NODELAY, Nagle + delayed ACK would
        # add ~40 ms per keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        # Per-request access logs would dominate benchmarks; stats are on /_emulator/stats.
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        request = ApiRequest(
            method=method, path=path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=f"http://{self.headers.get('Host') or self.server.url.removeprefix('http://')}",
        )
        found = find_route(method, path)
        if found is None:
            self._send(NotImplementedOperation(method, path).response())
            return
        route, params = found
        request = replace(request, params=params)
        if route.api is None:
            self._send(self._run(route, request, state, False))
            return
        api = route.api
        state.stats.record_call(api)
        if api == "sps" and "subscription" in params:
            state.stats.record_sps_target(params["subscription"], params["location"])
        fault = state.faults.next_call(api, request_identity(api, method, path, request.query, body))
        if state.config.latency_ms:
            time.sleep(state.config.latency_ms / 1000.0)
        if fault is not None and fault.kind == "reset":
            state.stats.record_status(api, "reset")
            self._reset_connection()
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.slow_seconds())
        if fault is not None and fault.kind in ("429", "500", "502", "503"):
            status = int(fault.kind)
            error = throttled(api, fault.retry_after(api)) if status == 429 else server_error(api, status)
            response = error.response()
        elif fault is not None and fault.kind == "badrequest":
            response = sps.unreadable_bad_request().response()
        else:
            response = self._run(route, request, state, fault is not None and fault.kind == "empty")
            if fault is not None and fault.kind in ("truncated", "malformed"):
                response.body = mangle(response.body, fault)
            if fault is not None and fault.kind in ("extra", "missing") and 200 <= response.status < 300:
                response.body = reshape(response.body, fault, api)
            if fault is not None and fault.kind == "nolink" and response.status == 200:
                response.body = prices.without_next_link(response.body)
            if fault is not None and fault.kind in ("casing", "unasked") and response.status == 200 and (
                    route.method == "POST"):
                response.body = sps.reshape_answer(response.body, fault.kind, state)
        state.stats.record_status(api, response.status)
        self._send(response)

    def _run(self, route: Route, request: ApiRequest, state: EmulatorState, empty: bool) -> ApiResponse:
        try:
            if route.needs_token:
                claims = token.verify_bearer(request, state)
                request = replace(request, params={**request.params, "user": str(claims.get("oid", ""))})
            subscription = request.params.get("subscription")
            if subscription is not None and not token.GUID_RE.match(subscription):
                raise ArmError(400, "InvalidSubscriptionId",
                               f"The provided subscription identifier '{subscription}' is malformed or invalid.")
            return route.handler(request, state, empty)
        except EmulatorError as error:
            return error.response()

    def _send(self, response: ApiResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("x-ms-request-id", _request_id())
        for name, value in response.headers.items():
            self.send_header(name, value)
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(response.body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    def _reset_connection(self) -> None:
        """Close the socket with RST and no response (SO_LINGER 0): what a dropped connection looks like."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            # The peer already went away; closing without RST has the same effect for the client.
            return


_request_ids = itertools.count(1)
_request_ids_lock = threading.Lock()


def _request_id() -> str:
    with _request_ids_lock:
        value = next(_request_ids)
    return f"00000000-0000-4000-8000-{value:012x}"


def make_server(state: EmulatorState, host: str = "127.0.0.1", port: int = 0) -> EmulatorHTTPServer:
    """Bind (port 0 = any free port); call ``serve_forever()`` to serve."""
    return EmulatorHTTPServer((host, port), state)
