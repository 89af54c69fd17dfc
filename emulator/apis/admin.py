"""Control plane (not an Azure API): ``/_emulator/stats``, ``reset``, ``faults``, ``clock``."""

from __future__ import annotations

import json
from datetime import datetime

from emulator.errors import ArmError
from emulator.faults import FaultSpecError
from emulator.state import EmulatorState
from emulator.wire import ApiRequest, ApiResponse


def handle_stats(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    return ApiResponse.json(200, state.stats.snapshot())


def handle_reset(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    state.reset()
    return ApiResponse.json(200, {"reset": True, "faults": state.faults.spec})


def handle_get_faults(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    return ApiResponse.json(200, {"faults": state.faults.spec})


def handle_set_faults(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    """Body = the fault spec string (plain text); an empty body clears the plan."""
    spec = request.body.decode("utf-8", errors="replace").strip()
    try:
        state.faults.install(spec)
    except FaultSpecError as exc:
        raise ArmError(400, "InvalidFaultSpec", str(exc)) from None
    return ApiResponse.json(200, {"faults": state.faults.spec})


def handle_clock(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    """Body ``{"now": "2025-12-13T13:00:00Z"}`` fixes the clock; ``{"now": null}`` returns to real time."""
    try:
        body = json.loads(request.body or b"{}")
        raw = body["now"]
        when = None if raw is None else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ArmError(400, "InvalidClock", f'expected {{"now": "<ISO 8601>"|null}}: {exc}') from None
    state.clock.set(when)
    return ApiResponse.json(200, {"now": state.clock.now().isoformat().replace("+00:00", "Z")})
