"""Repository hygiene: no credential-looking strings in tracked files, no secret build args or ENV."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CREDENTIAL_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key assignment": re.compile(
        r"aws_secret(?:_access)?_key\s*[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}\b", re.IGNORECASE
    ),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]{8,}/B[A-Z0-9]{8,}/[A-Za-z0-9]{24}"),
}
SECRET_NAME = re.compile(r"SECRET|TOKEN|KEY|PASSWORD", re.IGNORECASE)


def tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=30
    ).stdout.decode()
    return [REPO / name for name in listing.split("\0") if name and (REPO / name).is_file()]


def test_no_tracked_file_contains_a_credential_looking_string():
    findings = []
    for path in tracked_files():
        text = path.read_bytes().decode("utf-8", errors="ignore")
        findings += [
            f"{path.relative_to(REPO)}: {what}" for what, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(text)
        ]
    assert findings == []


def test_the_credential_patterns_do_catch_credential_shapes():
    samples = {
        "AWS access key id": "key = " + "AKIA" + "ABCDEFGHIJKLMNOP",
        "AWS secret key assignment": "aws_secret_access_key = " + "a" * 40,
        "private key": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "Slack webhook": "https://hooks.slack.com/services/" + "T0123ABCD/B0123ABCD/" + "x" * 24,
    }
    for what, sample in samples.items():
        assert CREDENTIAL_PATTERNS[what].search(sample), what


def test_no_dockerfile_declares_a_secret_looking_arg_or_env():
    offenders = []
    for path in tracked_files():
        if not path.name.startswith("Dockerfile"):
            continue
        text = re.sub(r"\\\n", " ", path.read_text())
        for line in text.splitlines():
            match = re.match(r"\s*(ARG|ENV)\s+(.*)", line, re.IGNORECASE)
            if not match:
                continue
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)", match.group(2))
            offenders += [f"{path.name}: {match.group(1)} {n}" for n in names if SECRET_NAME.search(n)]
    assert offenders == []
