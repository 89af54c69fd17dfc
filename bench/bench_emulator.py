#!/usr/bin/env python3
"""Benchmark: small SPS calls per second against the emulator (127.0.0.1, HTTP/1.1 keep-alive).

Starts ``emulator/server.py`` (world catalog, quota lifted) with ``emulator.launch.EmulatorProcess``, runs
``--clients`` client processes that each send small SPS POSTs on one persistent connection for ``--seconds``,
and prints one JSON object: ``{"requests": n, "seconds": s, "requests_per_second": r, "errors": e, ...}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run by path: make the repository root importable
    sys.path.insert(0, str(REPO))

from emulator.launch import EmulatorProcess  # noqa: E402  (stdlib only, as this benchmark)

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
BODY = json.dumps({"desiredLocations": ["eastus", "westeurope"], "desiredSizes": [{"sku": "Standard_D2s_v3"}],
                   "desiredCount": 5, "availabilityZones": False}).encode()


def _token(url: str) -> str:
    data = (b"grant_type=client_credentials&client_id=bench&client_secret=x"
            b"&scope=https://management.azure.com/.default")
    with urllib.request.urlopen(f"{url}/{TENANT}/oauth2/v2.0/token", data=data, timeout=10) as response:
        return json.load(response)["access_token"]


def _client(host: str, port: int, token: str, seconds: float, queue: multiprocessing.Queue) -> None:
    path = (f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/locations/eastus/placementScores/spot"
            "/generate?api-version=2025-06-05")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection(host, port, timeout=10)
    done = errors = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.request("POST", path, body=BODY, headers=headers)
        response = connection.getresponse()
        response.read()
        done += 1
        errors += response.status != 200
    connection.close()
    queue.put((done, errors))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds to wait after start-up")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON object to this file")
    args = parser.parse_args(argv)
    with EmulatorProcess(args=["--sps-quota", "1000000000"]) as server:
        url = server.url
        host, port = url.removeprefix("http://").split(":")
        token = _token(url)
        time.sleep(args.settle)  # let the server finish building its models in the background
        # Warm-up: the first SPS call builds the placement model.
        _client(host, int(port), token, 0.5, queue := multiprocessing.Queue())
        queue.get()
        started = time.monotonic()
        workers = [multiprocessing.Process(target=_client, args=(host, int(port), token, args.seconds, queue))
                   for _ in range(args.clients)]
        for worker in workers:
            worker.start()
        results = [queue.get() for _ in workers]
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
    total = sum(done for done, _ in results)
    figures = {"benchmark": "emulator_sps_small_calls", "clients": args.clients, "requests": total,
               "errors": sum(e for _, e in results), "seconds": round(elapsed, 3),
               "requests_per_second": round(total / elapsed, 1)}
    print(json.dumps(figures))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
