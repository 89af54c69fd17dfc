"""Test-only stand-ins for ``scripts/run_collection.sh`` runs: a tiny emulator catalog and an IMDSv2 stand-in
(127.0.0.1 only). Running the script itself, its clean environment and the Slack capture server live in
bench/reliability/script_runner.py (the fault-matrix bench uses them too).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# A tiny emulator catalog: two regions, three sizes, so an end-to-end run takes seconds.
TINY_CATALOG = """Region,InstanceType,OndemandPrice,SpotPrice
eastus,Standard_D2s_v3,0.096,0.0192
eastus,Standard_E4s_v5,0.252,0.0504
westus2,Standard_D2s_v3,0.096,0.0211
westus2,Standard_F4s_v2,0.169,0.0338
"""


def write_tiny_catalog(directory: Path) -> Path:
    path = directory / "tiny_catalog.csv"
    path.write_text(TINY_CATALOG)
    return path


@contextmanager
def imds_stand_in(instance_type: str = "m7g.large") -> Iterator[str]:
    """An IMDSv2 stand-in: PUT /latest/api/token gives a token; the GET needs it. Yields the base URL."""
    token = "stand-in-token"

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self._answer(200 if ok else 400, token if ok else "")

        def do_GET(self) -> None:
            authorised = self.headers.get("X-aws-ec2-metadata-token") == token
            ok = self.path == "/latest/meta-data/instance-type" and authorised
            self._answer(200 if ok else 401, instance_type if ok else "")

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
