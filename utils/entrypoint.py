"""The shell every entry point runs in: logging, settings, exit codes and the one failure alert.

    def main(args, settings) -> int: ...
    if __name__ == "__main__":
        sys.exit(run_entry("price", build_parser(), main))

Exit codes (SPEC 9): 0 success; 1 run failed (``RunFailed`` or any unexpected exception, after an alert
unless the orchestrator owns alerting); 2 bad usage or input (``UsageError``/``ConfigError``, argparse).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import time
from collections.abc import Callable, Mapping
from typing import Any

from utils.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, SpotlakeError, UsageError
from utils.logs import setup_logging
from utils.settings import Settings, load_settings


def run_entry(
    component: str,
    parser: argparse.ArgumentParser,
    main: Callable[[argparse.Namespace, Settings], int | None],
    argv: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    azure_credential: bool = True,
) -> int:
    """Parse arguments, build settings, run ``main``, map the outcome to an exit code.

    ``azure_credential=False``: this entry point never calls Azure, so it runs without an Azure credential.
    """
    log = setup_logging(component)
    args = parser.parse_args(argv)  # argparse itself exits 2 on bad usage
    started = time.monotonic()
    code = _run(component, log, args, main, env, azure_credential=azure_credential)
    if code != EXIT_USAGE:  # bad usage stays a one-line message
        # The kernel's exact peak, next to the orchestrator's sampled one (which can miss a short process).
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        log.info("%s finished (exit %d) in %.1fs, peak RSS %.0f MiB", component, code,
                 time.monotonic() - started, peak_mib)  # fmt: skip
    return code


def _run(
    component: str,
    log: logging.Logger,
    args: argparse.Namespace,
    main: Callable[[argparse.Namespace, Settings], int | None],
    env: Mapping[str, str] | None,
    *,
    azure_credential: bool = True,
) -> int:
    settings: Settings | None = None
    try:
        settings = load_settings(os.environ if env is None else env, azure_credential=azure_credential)
        code = main(args, settings)
        return EXIT_OK if code is None else int(code)
    except UsageError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except SpotlakeError as exc:
        log.error("%s failed: %s", component, exc)
        _alert(settings, component, str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("%s interrupted", component)
        return EXIT_FAILED
    except Exception as exc:
        log.exception("%s failed with an unexpected %s", component, type(exc).__name__)
        _alert(settings, component, f"unexpected {type(exc).__name__}: {exc}")
        return EXIT_FAILED


def _alert(settings: Settings | None, component: str, message: str) -> None:
    if settings is None or settings.alert_owner != "self":
        return
    from utils.slack_msg_sender import send_alert

    send_alert(settings, f"SpotLake Azure {component} failed: {message}")


def add_timestamp_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timestamp",
        default=None,
        help="run slot (UTC), e.g. '2025-12-13 13:00' or '2025-12-13T13:00:00Z'; default: now floored to 10 min",
    )


def describe_settings(settings: Settings) -> dict[str, Any]:
    """A secret-free summary for the first log line of a run."""
    return {
        "store": settings.store.describe(),
        "timeseries": settings.timeseries.kind,
        "metrics": settings.metrics.kind,
        "emulator": settings.emulator.enabled,
    }
