"""One fault-matrix world per pytest-xdist worker: moto server + AWS fault proxy + emulator, and the clean
reference runs of S0 and S1 computed once and reused by every cell."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bench.reliability.harness import World, world
from bench.reliability.matrix import References, compute_references


@pytest.fixture(scope="session")
def fault_world() -> Iterator[World]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's request log
    with world() as w:
        yield w


@pytest.fixture(scope="session")
def references(fault_world: World) -> References:
    return compute_references(fault_world)
