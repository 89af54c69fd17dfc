"""In-process emulator for tests: ``with running_emulator(...) as emu: emu.url``.

A threaded server on 127.0.0.1 (port 0), served and stopped by ``emulator.launch.serving``. ``emu.state``
exposes the model objects. A separate process: ``emulator.launch.EmulatorProcess``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from emulator.catalog import load_catalog
from emulator.http import EmulatorHTTPServer, make_server
from emulator.launch import serving
from emulator.state import Clock, EmulatorConfig, EmulatorState


@dataclass
class RunningEmulator:
    """Handle on a running emulator."""

    url: str
    state: EmulatorState
    server: EmulatorHTTPServer

    def stats(self) -> dict[str, Any]:
        """Same dict as ``GET /_emulator/stats``."""
        return self.state.stats.snapshot()

    def reset(self) -> None:
        self.state.reset()

    def set_faults(self, spec: str | None) -> None:
        """Replace the fault plan (raises ``FaultSpecError`` on a bad spec)."""
        self.state.faults.install(spec)

    def set_now(self, when: datetime | None) -> None:
        """Fix the emulator clock (None = real time)."""
        self.state.clock.set(when)


@contextmanager
def running_emulator(catalog: str | Path | None = None, seed: int = 0, latency_ms: float = 0,  # noqa: PLR0917
                     faults: str | None = None, sps_quota: int = 10, page_size: int | None = None,
                     token_ttl: int = 3600, clock: Callable[[], datetime] | datetime | None = None,
                     **options: Any) -> Iterator[RunningEmulator]:
    """Start an emulator in this process; extra ``options`` are ``EmulatorConfig`` fields
    (``sps_retry_after``, ``arg_quota``, ``arg_window_s``, ``sps_window_s``)."""
    config = EmulatorConfig(catalog_path=None if catalog is None else str(catalog), seed=seed,
                            latency_ms=latency_ms, faults=faults, sps_quota=sps_quota, page_size=page_size,
                            token_ttl=token_ttl, **options)
    state = EmulatorState(config, load_catalog(config.catalog_path, seed), Clock(clock))
    server = make_server(state)
    with serving(server):
        yield RunningEmulator(url=server.url, state=state, server=server)
