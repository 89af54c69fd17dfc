"""Emulator mode (docs/contract.md 4): point every Azure endpoint at the bundled emulator.

The orchestrator starts one emulator and exports ``SPOTLAKE_EMULATOR_URL``; a collector run alone in
emulator mode without that URL starts its own (``emulator.launch.EmulatorProcess``) for the duration of the run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from emulator.launch import EmulatorProcess, EmulatorStartError
from utils.errors import RunFailed
from utils.settings import Settings

log = logging.getLogger(__name__)


def with_emulator_url(settings: Settings, url: str) -> Settings:
    """Settings whose Azure endpoints all point at the emulator ``url``."""
    azure = dataclasses.replace(settings.azure, arm_endpoint=url, prices_endpoint=url, authority=url)
    emulator = dataclasses.replace(settings.emulator, url=url)
    return dataclasses.replace(settings, azure=azure, emulator=emulator)


@contextmanager
def azure_endpoints(settings: Settings) -> Iterator[Settings]:
    """Yield settings whose Azure endpoints are usable: unchanged outside emulator mode or when an
    emulator URL is given; otherwise an emulator is started for the duration of the block."""
    if not settings.emulator.enabled or settings.emulator.url:
        yield settings
        return
    emulator = EmulatorProcess(catalog=settings.emulator.catalog)
    try:
        emulator.start()
    except EmulatorStartError as exc:
        raise RunFailed(str(exc)) from exc
    log.info("started the Azure emulator at %s", emulator.url)
    try:
        yield with_emulator_url(settings, emulator.url)
    finally:
        emulator.stop()
