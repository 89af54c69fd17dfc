"""Lets this directory run with ``-p no:xdist`` (the documented way to regenerate the golden file)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Without pytest-xdist nothing registers the ``xdist_group`` mark, and ``--strict-markers`` (pyproject)
    # would refuse the module; with xdist loaded it registers the mark itself, so this does nothing then.
    if not config.pluginmanager.hasplugin("xdist"):
        config.addinivalue_line("markers", "xdist_group(name): run the tests of a group on one xdist worker")
