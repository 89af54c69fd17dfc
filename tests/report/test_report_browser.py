"""The report of a real multi-slot run opened in a real headless browser (Debian's ``chromium``; ``.ci/run``
installs it when missing): no console output at all (so no error), the table filters, every chart has
content, and a screenshot is saved in the test's temp directory. DNS resolves nothing but 127.0.0.1, so a
page that needed the network would log a load error."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from merge.report import REPORT_KEY
from tests.query.runs import RealRun

NO_CHROMIUM = "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("usedata_runs"),
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM),
]


def chromium(tmp_path: Path, url: str, *action: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--window-size=1280,3200", *action, url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def console_lines(stderr: str) -> list[str]:
    """Chromium logs every console message and uncaught error of the page as a ``CONSOLE`` line."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def body_attribute(dom: str, name: str) -> str | None:
    match = re.search(r"<body[^>]*\s" + re.escape(name) + r'="([^"]*)"', dom)
    return match.group(1) if match else None


def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    """A control: the same browser run on a page that throws reports it."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><body><script>throw new Error("kaboom")</script></body>')
    done = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert any("kaboom" in line for line in console_lines(done.stderr))


def test_the_report_renders_filters_and_draws_every_chart(sqlite_real_run: RealRun, tmp_path: Path) -> None:
    report = sqlite_real_run.store / REPORT_KEY
    assert report.is_file() and report.stat().st_size < 5_000_000
    screenshot = tmp_path / "report.png"
    shot = chromium(tmp_path, report.as_uri(), f"--screenshot={screenshot}")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert console_lines(shot.stderr) == []
    with Image.open(screenshot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # charts and table, not a blank page

    dom = chromium(tmp_path, report.as_uri(), "--dump-dom")
    assert dom.returncode == 0 and console_lines(dom.stderr) == []
    assert body_attribute(dom.stdout, "data-errors") is None
    assert body_attribute(dom.stdout, "data-filtered-rows") == "5"  # every (size, region) of the catalog
    assert dom.stdout.count("<tr>") >= 5
    charts = re.findall(r'<div class="(?:series )?chart"[^>]*>(.*?)</svg>', dom.stdout, flags=re.S)
    assert len(charts) >= 4  # history series + score mix + savings + durations
    for chart in charts:
        lines = re.findall(r'<path[^>]*\sd="([^"]{40,})"', chart)
        assert lines, "a chart without drawn content"

    for fragment, rows in (("#type=NC24", "1"), ("#region=us%20west%202&arch=Arm64", "1"), ("#mint3=50", "0")):
        filtered = chromium(tmp_path, report.as_uri() + fragment, "--dump-dom")
        assert console_lines(filtered.stderr) == []
        assert body_attribute(filtered.stdout, "data-filtered-rows") == rows, fragment
