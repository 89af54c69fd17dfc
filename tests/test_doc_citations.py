"""Every citation of the API-fact documents names a file and a section that exist in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = ("docs/azure-facts.md", "docs/aws-facts.md")
# "docs/azure-facts.md 1.6/2.5/3.3", "... 4.1-4.3", "... section 4", "docs/aws-facts.md section 1"
CITATION = re.compile(r"(docs/(?:azure|aws)-facts\.md)(?:\s+(?:section\s+)?((?:\d+(?:\.\d+)?[-/,]?\s?)+))?")


def sections(doc: str) -> set[str]:
    """Section numbers of a document's headings: "1" for "## 1. ...", "1.6" for "### 1.6 ..."."""
    found = set()
    for line in (REPO / doc).read_text().splitlines():
        match = re.match(r"#{2,3} (\d+(?:\.\d+)?)\.?\s", line)
        if match:
            found.add(match.group(1))
    return found


def cited() -> list[tuple[str, str, str]]:
    """(file:line, doc, section) of every citation in the tracked files."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    out = []
    for name in files:
        if name.startswith("docs/") or not name.endswith((".py", ".md", ".sh", ".tf", "Makefile", "Dockerfile")):
            continue
        for number, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1):
            for match in CITATION.finditer(line):
                doc, spec = match.group(1), (match.group(2) or "").strip()
                for part in re.split(r"[/,\s]+", spec):
                    if not part:
                        continue
                    first, _, last = part.partition("-")
                    for section in filter(None, (first, last)):
                        out.append((f"{name}:{number}", doc, section.rstrip(".")))
                if not spec:
                    out.append((f"{name}:{number}", doc, ""))
    return out


def test_every_cited_section_exists() -> None:
    known = {doc: sections(doc) for doc in DOCS}
    found = cited()
    assert len({where for where, _, _ in found}) > 50  # the code does cite them
    missing = [(where, doc, section) for where, doc, section in found if section and section not in known[doc]]
    assert missing == []


def test_no_citation_points_outside_the_repository() -> None:
    pattern = r"\.\./shared|/work/shared|(^|[^-])\b(azure|aws)\.md"
    done = subprocess.run(["git", "grep", "-nE", pattern, "--", ".", ":!tests/test_doc_citations.py"], check=False,
                          cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert done.stdout == ""
