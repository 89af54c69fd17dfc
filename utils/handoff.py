"""The SPS -> merge handoff file (``SPS_KEY_FILE``, default ``/tmp/sps_key.txt``): one line, the raw SPS key.

Written atomically: a temp file in the same directory, created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and a
random name (in a shared ``/tmp`` nobody can plant a symlink or a file under the name it will use), fsynced,
then renamed over the handoff. ``run_collection.sh`` hands its own children a private handoff in its scratch
directory, so runs for different stores on one host never read each other's key, and then copies the key
to the configured path for standalone use.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

_ATTEMPTS = 16  # random 64-bit names: a collision is already unlikely once


def write_handoff(path: Path, key: str) -> None:
    """Write ``key`` and a newline to ``path`` atomically (see the module docstring).

    Raises:
        OSError: the directory is not writable (settings check it at start) or the disk is full.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o644)
            break
        except FileExistsError:
            if attempt == _ATTEMPTS - 1:
                raise
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
