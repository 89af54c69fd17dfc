"""The sweep against a scripted SPS endpoint on 127.0.0.1: answers the emulator never gives (a 400 naming a
value in other casing with escaped quotes, or naming a value the call did not ask)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from sps_module.quota_ledger import QuotaLedger
from sps_module.request_planner import PlannedCall
from sps_module.sweep import CallOutcome, SweepOutcome, run_sweep
from utils.azure_api.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=5, base_delay=0.0, max_delay=0.0)
CALL = PlannedCall(("eastus", "westus"), ("Standard_D2s_v3", "Standard_D4s_v3"))
# The real service's wording (SpotLake production, see utils/azure_api/classify.py); quotes escaped as some
# serialisers do.
NAMED_400 = ('{"error":{"code":"BadRequest","message":"The value \\u0027STANDARD_D2S_V3\\u0027 provided for the '
             'input parameter \\u0027SpotPlacementRecommenderInput.desiredSizes\\u0027 is not valid. The value '
             '\\u0027mars\\u0027 provided for the input parameter \\u0027desiredLocations\\u0027 is not valid."}}')


class Auth:
    """The credential side the sweep needs: an ARM endpoint, one subscription and a static token."""

    def __init__(self, url: str) -> None:
        self.arm_endpoint = url
        self.subscription_ids = ["11111111-2222-3333-4444-555555555555"]

    def bearer_token(self) -> str:
        return "token"

    def invalidate_token(self) -> None:
        """Nothing cached to drop."""


@contextmanager
def scripted_sps(answers: list[tuple[int, str]]) -> Iterator[tuple[str, list[dict]]]:
    """A server answering each POST with the next (status, body); yields (url, request bodies seen)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            status, body = answers[min(len(seen), len(answers)) - 1]
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def scores(pairs: list[tuple[str, str]], label: str = "High") -> str:
    return json.dumps({"placementScores": [{"sku": s, "region": r, "availabilityZone": "1", "score": label}
                                           for r, s in pairs]})


def sweep(url: str):
    ledger = QuotaLedger(["11111111-2222-3333-4444-555555555555"], ["eastus", "westus"], 10, 3720.0)
    with requests.Session() as session:
        return run_sweep([CALL], session=session, auth=Auth(url), ledger=ledger, clock=lambda: 1000.0,
                         desired_count=1, workers=1, timeout=5, policy=FAST)


def test_only_values_of_the_call_named_by_the_400_are_learned_in_the_asked_casing():
    rest = [("eastus", "Standard_D4s_v3"), ("westus", "Standard_D4s_v3")]
    with scripted_sps([(400, NAMED_400), (200, scores(rest))]) as (url, seen):
        result = sweep(url)
    assert result.invalid_sizes == {"Standard_D2s_v3"} and result.invalid_regions == set()  # mars was not asked
    assert [s["sku"] for s in seen[1]["desiredSizes"]] == ["Standard_D4s_v3"]
    assert {(i["region"], i["sku"]) for i in result.items} == set(rest)


def test_a_400_naming_only_values_the_call_did_not_ask_teaches_nothing_and_drops_the_call_after_a_retry():
    other = NAMED_400.replace("STANDARD_D2S_V3", "Standard_Z9")
    with scripted_sps([(400, other)]) as (url, seen):
        result = sweep(url)
    assert result.invalid_sizes == set() and result.invalid_regions == set()
    assert len(seen) == 2 and result.calls_dropped == 1 and result.pairs_dropped == 4 and result.items == []


def test_scores_missing_from_an_answer_teach_nothing():
    with scripted_sps([(200, scores([("eastus", "Standard_D4s_v3")]))]) as (url, _):
        result = sweep(url)
    assert result.invalid_sizes == set() and result.invalid_regions == set()
    assert result.pairs_unanswered == 3 and result.calls_made == 1


def test_call_outcomes_are_the_progress_counter_names():
    """The progress line counts ``made=``/``not_made=``/``dropped=`` as before the outcomes were an enum."""
    assert [str(o) for o in CallOutcome] == ["made", "not_made", "dropped"]
    with scripted_sps([(200, scores([("eastus", "Standard_D2s_v3")]))]) as (url, _):
        result = sweep(url)
    assert result.outcome is SweepOutcome.COMPLETE and not result.partial
