#!/usr/bin/env python3
"""Send the one failure alert of a run (docs/contract.md 8) through utils.slack_msg_sender.

Usage:
    send_alert.py --text TEXT

run_collection.sh calls this once per failed run (the collectors run with SPOTLAKE_ALERT_OWNER=orchestrator
and do not alert themselves). The alert is always logged; it reaches Slack when a webhook is configured
(``error_notification_slack_webhook_url`` in the environment or the SSM parameter of that name).

The alert always goes out: when the settings do not validate (the run failed *because* of them, or they
changed under it), the error is logged and the alert is sent with the webhook settings read directly from
the environment.

Exit codes: 0 whether or not Slack accepted it (alerting never changes the run's outcome); 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run by path: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from utils.runtime import require_runtime

    require_runtime()

from utils.errors import EXIT_OK, UsageError
from utils.logs import setup_logging
from utils.settings import load_settings
from utils.slack_msg_sender import alert_settings_from_env, send_alert


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="send_alert.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", required=True)
    args = parser.parse_args(argv)
    log = setup_logging("run")
    environ = os.environ if env is None else env
    settings: Any
    try:
        settings = load_settings(environ)
    except UsageError as exc:
        # The failure being reported may be this very problem: alert anyway, from the raw environment.
        log.error("settings invalid (%s); sending the alert with the webhook settings from the environment", exc)
        settings = alert_settings_from_env(environ)
    delivered = send_alert(settings, args.text)
    log.info("alert %s", "delivered to Slack" if delivered else "logged only (not delivered to Slack)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
