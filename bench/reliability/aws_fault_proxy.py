"""A small threaded HTTP proxy on 127.0.0.1 in front of the moto server that injects AWS faults.

Every request is forwarded to moto unchanged, except those matching a rule of the current rule list, which
get an AWS-shaped error answer (S3: XML ``<Error>`` body; JSON services: ``__type``/``message`` body and the
``x-amzn-ErrorType`` header) or have their connection dropped with an RST. The AWS SDK, the moto backend and
the code under test stay real; only the fault is synthetic.

A request is classified by the SigV4 credential scope of its ``Authorization`` header (the signing service:
``s3``, ``timestream``, ``logs``...), its operation (``X-Amz-Target`` suffix for JSON services; derived from
the method, path and query for S3) and, for S3, its object key (URL-decoded, without the bucket)::

    with AwsFaultProxy(moto_url) as proxy:
        proxy.set_rules([FaultRule(service="s3", operation="PutObject", key=r"latest_state\\.parquet$",
                                   status=403, code="AccessDenied")])
        env["AWS_ENDPOINT_URL"] = proxy.url
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Headers that describe one hop, not the message (RFC 9110 7.6.1); the proxy sets its own framing.
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
                "content-length"}  # fmt: skip
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


@dataclass(frozen=True)
class AwsRequest:
    """What a rule can match on."""

    service: str  # SigV4 signing name: s3, timestream, logs, ssm, dynamodb...
    operation: str  # PutObject, GetObject, WriteRecords, PutLogEvents...
    key: str  # S3 object key without the bucket ("" for other services)


@dataclass
class FaultRule:
    """Answer matching requests with an injected error (or drop the connection).

    ``calls``: 1-based numbers of the matching requests to fault (None: every matching request).
    ``action``: ``error`` (``status``/``code``/``message``, plus ``extra`` JSON fields for JSON services),
    ``drop`` (close the connection with RST, no answer), ``delay`` (answer normally after
    ``extra["seconds"]``: holds a run inside one step, e.g. to signal it there) or ``reject_records``
    (Timestream WriteRecords: the records at the ``extra["RejectedRecords"]`` indexes are removed and the rest
    is forwarded, then the answer is the RejectedRecordsException, as Timestream writes the accepted records
    of a partly rejected batch).
    """

    service: str
    operation: str | None = None
    key: str | None = None  # regex searched in the S3 key
    status: int = 500
    code: str = "InternalError"
    message: str = "injected fault"
    action: str = "error"
    calls: Sequence[int] | None = None
    extra: dict = field(default_factory=dict)
    seen: int = 0  # matching requests so far
    injected: int = 0  # faults actually injected

    def matches(self, request: AwsRequest) -> bool:
        if request.service != self.service:
            return False
        if self.operation is not None and request.operation != self.operation:
            return False
        return self.key is None or re.search(self.key, request.key) is not None


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[str, str]:
    """(operation, key) of a path-style S3 request (``/bucket/key``): enough names for the collector's calls."""
    parts = urllib.parse.unquote(path).lstrip("/").split("/", 1)
    key = parts[1] if len(parts) == 2 else ""
    if not key:
        if method == "GET":
            return ("ListObjectsV2" if "list-type" in query else "ListObjects"), ""
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, method), ""
    if method == "PUT":
        if "x-amz-copy-source" in headers:
            return "CopyObject", key
        return ("PutObjectAcl" if "acl" in query else "PutObject"), key
    operation = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)
    return operation, key


def classify(method: str, raw_path: str, headers: dict[str, str]) -> AwsRequest:
    """The service, operation and S3 key of one request (headers with lower-case names)."""
    scope = _SCOPE.search(headers.get("authorization", ""))
    service = scope.group(1) if scope else ""
    target = headers.get("x-amz-target", "")
    if target:
        return AwsRequest(service, target.rsplit(".", 1)[-1], "")
    parsed = urllib.parse.urlsplit(raw_path)
    if service == "s3":
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        operation, key = _s3_operation(method, parsed.path, query, headers)
        return AwsRequest(service, operation, key)
    return AwsRequest(service, f"{method} {parsed.path}", "")


def error_response(rule: FaultRule, request: AwsRequest) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the injected error, shaped like the service's real errors."""
    if request.service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{rule.code}</Code>'
            f"<Message>{rule.message}</Message><Key>{request.key}</Key><RequestId>INJECTEDFAULT</RequestId></Error>"
        )
        return rule.status, {"Content-Type": "application/xml"}, body.encode()
    payload = {"__type": rule.code, "message": rule.message, **rule.extra}
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": rule.code,
               "x-amzn-RequestId": "INJECTEDFAULT"}  # fmt: skip
    return rule.status, headers, json.dumps(payload).encode()


def _without_rejected(body: bytes, rule: FaultRule) -> bytes:
    """A WriteRecords body without the records the rule rejects (moto does not check SigV4 signatures)."""
    payload = json.loads(body)
    rejected = {int(item["RecordIndex"]) for item in rule.extra.get("RejectedRecords", [])}
    payload["Records"] = [r for i, r in enumerate(payload.get("Records", [])) if i not in rejected]
    return json.dumps(payload).encode()


class AwsFaultProxy:
    """The proxy server; a context manager that starts and stops it on 127.0.0.1 (port 0)."""

    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self.requests: list[AwsRequest] = []  # every request seen since the last set_rules
        self.injected = 0  # faults injected since the last set_rules
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def set_rules(self, rules: Sequence[FaultRule]) -> None:
        """Replace the rule list (first matching rule wins) and forget the request log."""
        with self._lock:
            self._rules = list(rules)
            self.requests = []
            self.injected = 0

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, request: AwsRequest) -> FaultRule | None:
        """The rule that faults this request, if any (counts matches)."""
        with self._lock:
            self.requests.append(request)
            for rule in self._rules:
                if rule.matches(request):
                    rule.seen += 1
                    if rule.calls is None or rule.seen in rule.calls:
                        rule.injected += 1
                        self.injected += 1
                        return rule
                    return None
        return None

    def start(self) -> AwsFaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="aws-fault-proxy", daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AwsFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers: not forwarded
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _drop(self) -> None:
                # SO_LINGER 0: close() sends RST, as a crashed or unreachable endpoint would.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _answer(self, status: int, headers: dict[str, str] | list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                items = headers.items() if isinstance(headers, dict) else headers
                for name, value in items:
                    if name.lower() not in _HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _proxy(self) -> None:
                body = self._read_body()
                lowered = {name.lower(): value for name, value in self.headers.items()}
                request = classify(self.command, self.path, lowered)
                rule = proxy.decide(request)
                if rule is not None and rule.action == "delay":
                    time.sleep(float(rule.extra.get("seconds", 10)))  # then answered normally
                    rule = None
                if rule is not None and rule.action == "drop":
                    self._drop()
                    return
                if rule is not None and rule.action == "reject_records":
                    body = _without_rejected(body, rule)
                    self._forward(body)  # the accepted records are written; the answer is the rejection
                    self._answer(*error_response(rule, request))
                    return
                if rule is not None:
                    self._answer(*error_response(rule, request))
                    return
                status, headers, data = self._forward(body)
                self._answer(status, headers, data)

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
                try:
                    headers = {name: value for name, value in self.headers.items()
                               if name.lower() not in _HOP_HEADERS}  # fmt: skip
                    headers["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    return response.status, response.getheaders(), response.read()
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _proxy

            def log_message(self, *args: object) -> None:  # quiet: the test reports what matters
                return

        return Handler


@contextmanager
def fault_proxy(upstream: str) -> Iterator[AwsFaultProxy]:
    with AwsFaultProxy(upstream) as proxy:
        yield proxy
