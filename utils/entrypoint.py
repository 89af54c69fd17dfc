"""The shell every entry point runs in: logging, settings, exit codes and the one failure alert.

    def main(args, settings) -> int: ...
    if __name__ == "__main__":
        sys.exit(run_entry("price", build_parser(), main))

Exit codes (docs/contract.md 9): 0 success; 1 run failed (``RunFailed`` or any unexpected exception, after an alert
unless the orchestrator owns alerting; or stopped by a signal); 2 bad usage or input
(``UsageError``/``ConfigError``, argparse). ``exit_code_for`` is that mapping and ``run_mapped`` applies it;
the helper scripts (scripts/*.py, sps_module/plan_cli.py, emulator/server.py), which print their own
messages and never alert, call ``run_mapped`` directly with the exceptions they handle.

Signals (issue 14.2). A process started from the command line (``argv`` not given) handles SIGTERM
(Batch timeout, ``docker stop``, the orchestrator forwarding either), SIGHUP and SIGINT: the first one raises
``Interrupted`` (``KeyboardInterrupt`` for SIGINT) in the main thread, so the ``finally`` blocks on the way
out release the leases the process holds (``utils.lease.held``); later signals are ignored so they cannot
cut that cleanup short. The unwinding is bounded: a watchdog thread, woken by the signal itself through
``signal.set_wakeup_fd`` (so even a main thread blocked in a socket read cannot delay it), releases every
lease still registered and ends the process with exit 1 after ``STOP_GRACE_SECONDS`` — below the
orchestrator's 10 s between its SIGTERM and SIGKILL (scripts/run_collection.sh CHILD_STOP_GRACE).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from utils.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Interrupted, SpotlakeError, UsageError
from utils.logs import setup_logging
from utils.settings import Settings, load_settings

STOP_GRACE_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_WAKEUP: list[socket.socket] = []  # the wakeup socket pair, kept open for the life of the process


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
    if argv is None:  # a real process (in-process test calls pass argv and keep pytest's own handlers)
        install_stop_handlers(log)
    args = parser.parse_args(argv)  # argparse itself exits 2 on bad usage
    started = time.monotonic()
    code = _run(component, log, args, main, env, azure_credential=azure_credential)
    if code != EXIT_USAGE:  # bad usage stays a one-line message
        # The kernel's exact peak, next to the orchestrator's sampled one (which can miss a short process).
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        log.info("%s finished (exit %d) in %.1fs, peak RSS %.0f MiB", component, code,
                 time.monotonic() - started, peak_mib)  # fmt: skip
    return code


def exit_code_for(exc: BaseException, codes: Sequence[tuple[type[BaseException], int]] = ()) -> int:
    """The exit code of a run that ended with ``exc``: the first of ``codes`` (class, code) it is an instance
    of (a script's own codes, e.g. run_lease.py's 3), else a ``SpotlakeError``'s ``exit_code`` (2 for
    ``UsageError``, 1 for ``RunFailed``), else 1 (a signal, an unexpected exception)."""
    for kind, code in codes:
        if isinstance(exc, kind):
            return code
    return exc.exit_code if isinstance(exc, SpotlakeError) else EXIT_FAILED


def run_mapped(
    body: Callable[[], int | None],
    report: Callable[[BaseException, int], None],
    *,
    catch: tuple[type[BaseException], ...] = (SpotlakeError,),
    codes: Sequence[tuple[type[BaseException], int]] = (),
) -> int:
    """Run ``body`` (None means 0); an exception of ``catch`` is passed to ``report`` with its exit code
    (``exit_code_for``), which is returned. ``report`` runs inside the ``except``, so it may log the
    traceback. Anything else propagates."""
    try:
        code = body()
        return EXIT_OK if code is None else int(code)
    except catch as exc:
        mapped = exit_code_for(exc, codes)
        report(exc, mapped)
        return mapped


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

    def body() -> int | None:
        nonlocal settings
        settings = load_settings(os.environ if env is None else env, azure_credential=azure_credential)
        return main(args, settings)

    def report(exc: BaseException, _code: int) -> None:
        if isinstance(exc, UsageError):
            log.error("%s", exc)
        elif isinstance(exc, SpotlakeError):
            log.error("%s failed: %s", component, exc)
            _alert(settings, component, str(exc))
        elif isinstance(exc, Interrupted):
            # No alert of its own: the orchestrator that forwarded the signal sends the run's one alert, and an
            # operator who stopped a standalone run knows.
            log.error("%s %s; what it held is released", component, exc)
        elif isinstance(exc, KeyboardInterrupt):
            log.error("%s interrupted", component)
        else:
            log.exception("%s failed with an unexpected %s", component, type(exc).__name__)
            _alert(settings, component, f"unexpected {type(exc).__name__}: {exc}")

    return run_mapped(body, report, catch=(Exception, Interrupted, KeyboardInterrupt))


def install_stop_handlers(log: logging.Logger, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM/SIGHUP/SIGINT stop this process cleanly and within ``grace_seconds`` (see the module docstring).

    Signals this process inherited as ignored (e.g. SIGINT in a background job of a script) stay ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    if _WAKEUP:
        return  # installed already
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    _WAKEUP.extend((reader, writer))
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return  # already unwinding; the watchdog bounds it
        stopping.set()
        name = signal.Signals(signum).name
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(name)

    handled = []
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue
        signal.signal(signum, on_signal)
        handled.append(signum)
    if not handled:
        return
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    threading.Thread(target=_stop_watchdog, args=(reader, grace_seconds, log), daemon=True,
                     name="stop-watchdog").start()  # fmt: skip


def _stop_watchdog(reader: socket.socket, grace_seconds: float, log: logging.Logger) -> None:
    """Wait for the first stop signal; if the process has not exited ``grace_seconds`` later, release what
    it still holds and end it (exit 1)."""
    from utils.lease import release_all_held

    while True:
        data = reader.recv(16)
        names = [signal.Signals(b).name for b in data if b in {int(s) for s in STOP_SIGNALS}]
        if names:
            break
    time.sleep(grace_seconds)
    reason = f"{names[0]}, still running {grace_seconds:.0f}s later"
    released = release_all_held(reason)
    log.error("stopping now (%s): released %d lease(s), exit %d", reason, released, EXIT_FAILED)
    logging.shutdown()
    os._exit(EXIT_FAILED)


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
