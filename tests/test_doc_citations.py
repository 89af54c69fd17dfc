"""The documents in docs/ and the citations of them stay true.

- every citation ``docs/<doc>.md N`` (``docs/azure-facts.md 1.6/2.5``, ``docs/contract.md 2, 5-8``,
  ``docs/contract.md 2 step 5``, ``docs/aws-facts.md section 1``) names a document and a section that exist;
- nothing in the tracked files points outside the repository (the old spec, shared notes, reports);
- every relative markdown link in the repository's READMEs and docs resolves to a file (and a heading);
- docs/dataset.md names every public field of the machine-readable contract, ``tests/compat/contract.py``.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

from tests.compat import contract

REPO = Path(__file__).resolve().parents[1]
DOCS = ("docs/azure-facts.md", "docs/aws-facts.md", "docs/contract.md", "docs/dataset.md")
# A number list after the document: "1.6/2.5/3.3", "4.1-4.3", "2, 5-8", "5 and 8", "section 4", "sections 2 and 5".
# "2 step 5" cites section 2 (the step is not a section); "6 / docs/azure-facts.md 8" cites 6 of the first.
_NUMBER = r"\d+(?:\.\d+)?"
CITATION = re.compile(
    r"(docs/(?:azure-facts|aws-facts|contract|dataset)\.md)"
    rf"(?:\s+(?:sections?\s+)?({_NUMBER}(?:\s*(?:[-/,]|and)\s*{_NUMBER})*))?"
)
# What used to be cited from outside the repository, or from files that are not in it.
OUTSIDE = (
    r"\.\./shared",
    r"/work/shared",
    r"(^|[^-])\b(azure|aws)\.md",
    r"\bSPEC('s)?(\s+sections?)?\s*[0-9]",
    r"interfaces\.md",
    r"STYLE lesson",
    r"[Rr]eliability report",
)
# Markdown files whose relative links must resolve.
LINKED_DOCS = ("README.md", "docs/*.md", "emulator/README.md", "infrastructure/README.md", "tests/**/README.md",
               "bench/README*")  # fmt: skip
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@cache
def tracked_files() -> tuple[str, ...]:
    done = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return tuple(done.stdout.split())


def sections(doc: str) -> set[str]:
    """Section numbers of a document's headings: "1" for "## 1. ...", "1.6" for "### 1.6 ..."."""
    found = set()
    for line in (REPO / doc).read_text().splitlines():
        match = re.match(r"#{2,3} (\d+(?:\.\d+)?)\.?\s", line)
        if match:
            found.add(match.group(1))
    return found


def cited_sections(spec: str) -> list[str]:
    """The sections a number list names: "2, 5-8" -> 2, 5, 8 (a range is checked at both ends)."""
    out = []
    for part in re.split(r"\s*(?:[/,]|and)\s*", spec.strip()):
        out += [s for s in re.split(r"\s*-\s*", part) if s]
    return out


def cited() -> list[tuple[str, str, str]]:
    """(file:line, doc, section) of every citation in the tracked files; section "" cites the whole file."""
    out = []
    for name in tracked_files():
        if name == "tests/test_doc_citations.py" or not name.endswith((".py", ".md", ".sh", ".tf", "Makefile",
                                                                          "Dockerfile")):  # fmt: skip
            continue  # this file's examples are not citations
        for number, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1):
            for match in CITATION.finditer(line):
                doc, spec = match.group(1), match.group(2) or ""
                out += [(f"{name}:{number}", doc, section) for section in cited_sections(spec) or [""]]
    return out


def test_the_citation_pattern_reads_every_form_the_code_uses() -> None:
    def parse(text: str) -> list[tuple[str, str]]:
        return [(m.group(1), s) for m in CITATION.finditer(text) for s in cited_sections(m.group(2) or "") or [""]]

    assert parse("(docs/contract.md 8)") == [("docs/contract.md", "8")]
    assert parse("docs/contract.md 2, 8") == [("docs/contract.md", "2"), ("docs/contract.md", "8")]
    assert parse("docs/contract.md 5-8") == [("docs/contract.md", "5"), ("docs/contract.md", "8")]
    assert parse("(docs/contract.md 2 step 5)") == [("docs/contract.md", "2")]
    assert parse("docs/contract.md 6 / docs/azure-facts.md 8") == [("docs/contract.md", "6"),
                                                                   ("docs/azure-facts.md", "8")]  # fmt: skip
    assert parse("docs/contract.md 5 and 8") == [("docs/contract.md", "5"), ("docs/contract.md", "8")]
    assert parse("docs/azure-facts.md 1.6/2.5") == [("docs/azure-facts.md", "1.6"), ("docs/azure-facts.md", "2.5")]
    assert parse("docs/aws-facts.md section 1") == [("docs/aws-facts.md", "1")]
    assert parse("[docs/dataset.md](docs/dataset.md)") == [("docs/dataset.md", ""), ("docs/dataset.md", "")]


def test_every_cited_section_exists() -> None:
    known = {doc: sections(doc) for doc in DOCS}
    found = cited()
    for doc in ("docs/azure-facts.md", "docs/contract.md"):
        assert len({where for where, cited_doc, _ in found if cited_doc == doc}) > 50  # the code does cite them
    missing = [(where, doc, section) for where, doc, section in found if section and section not in known[doc]]
    assert missing == []


def test_the_contract_has_sections_1_to_9() -> None:
    assert [line.split(".")[0] for line in (REPO / "docs/contract.md").read_text().splitlines()
            if re.match(r"## \d+\. ", line)] == [f"## {n}" for n in range(1, 10)]  # fmt: skip


def test_no_citation_points_outside_the_repository() -> None:
    done = subprocess.run(["git", "grep", "-nE", "|".join(f"({p})" for p in OUTSIDE), "--", ".",
                           ":!tests/test_doc_citations.py"], check=False, cwd=REPO, capture_output=True,
                          text=True)  # fmt: skip
    assert done.stdout == ""


def test_the_outside_pattern_catches_what_it_must_and_spares_the_rest() -> None:
    pattern = re.compile("|".join(f"({p})" for p in OUTSIDE))
    # Built from pieces so this file never holds a live outside citation itself (a plain grep finds none).
    outside, azure_doc = ".." + "/shared", "docs/azure" + ".md"
    caught = (f"see {outside}/notes", "(SPEC 8)", "SPEC section 4", "SPEC sections 2 and 5", "SPEC's 7",
              "interfaces.md", "STYLE lesson 6", "reliability report", "/work/shared/x", azure_doc)  # fmt: skip
    for bad in caught:
        assert pattern.search(bad), bad
    for fine in ("--faults SPEC", "SPEC     := RULE", "EXTRA_SPEC_COLUMNS", "docs/azure-facts.md 1", "KNOWN_SPECS"):
        assert not pattern.search(fine), fine


# --- markdown links --------------------------------------------------------------------------------------


def markdown_files() -> list[str]:
    tracked = set(tracked_files())
    return sorted({str(p.relative_to(REPO)) for glob in LINKED_DOCS for p in REPO.glob(glob)} & tracked)


def without_code(text: str) -> str:
    """``text`` with fenced code blocks removed and inline code spans blanked (links there are not links)."""
    return re.sub(r"`[^`\n]*`", "", without_fences(text))


def without_fences(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.DOTALL | re.MULTILINE)


def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings: lower case, punctuation but '-' and '_' dropped, each
    space -> '-', a repeated anchor suffixed -1, -2, ..."""
    anchors: set[str] = set()
    for line in without_fences(path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def broken_links(source: Path, root: Path = REPO) -> list[str]:
    """What is wrong with the relative links of ``source``: a missing file, or a missing heading."""
    name = source.relative_to(root).as_posix()
    problems = []
    for target in LINK.findall(without_code(source.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (source.parent / path_part).resolve() if path_part else source
        relative = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)
        if not resolved.exists():
            problems.append(f"{name}: {target} -> {relative} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
            problems.append(f"{name}: {target} -> no heading #{anchor} in {relative}")
    return problems


def test_every_relative_markdown_link_resolves() -> None:
    files = markdown_files()
    assert {"README.md", "docs/contract.md", "docs/dataset.md", "emulator/README.md"} <= set(files)
    assert [problem for name in files for problem in broken_links(REPO / name)] == []


def test_the_link_check_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "contract.md").write_text("# Title\n\n## 6. Schemas\n\n## `Time` and zones\n")
    probe = tmp_path / "docs" / "probe.md"
    probe.write_text("[a](missing.md) [b](contract.md#no-such-heading) [c](contract.md#6-schemas) "
                     "[d](contract.md#time-and-zones) [e](#title) `[f](x.md)`\n\n# Title\n"
                     "```\n[g](y.md)\n```\n[h](https://example.com/z.md)\n")  # fmt: skip
    assert broken_links(probe, tmp_path) == [
        "docs/probe.md: missing.md -> docs/missing.md does not exist",
        "docs/probe.md: contract.md#no-such-heading -> no heading #no-such-heading in docs/contract.md",
    ]


# --- the dataset dictionary ------------------------------------------------------------------------------


def public_field_names() -> set[str]:
    """Every name tests/compat/contract.py defines as part of a public output."""
    names = {field.name for field in contract.PUBLIC_ROW}
    names |= {*contract.SELECTOR_KEYS, *contract.ASSOCIATION_VALUE_KEYS, *contract.TIMESTREAM_DIMENSIONS,
              contract.TIMESTREAM_MEASURE_NAME, *contract.TIMESTREAM_MEASURES, *contract.TABLE_COLUMNS,
              *contract.EXTRA_SPEC_COLUMNS}  # fmt: skip
    names |= set(re.findall(r"AZURE[A-Z]+", contract.CLOUDWATCH_MESSAGE_RE.pattern))
    return names


def test_the_dataset_dictionary_names_every_public_field_of_the_compat_contract() -> None:
    text = (REPO / "docs" / "dataset.md").read_text()
    names = public_field_names()
    assert len(names) > 20
    # Columns, keys, dimensions and measures are named as code (`Region`); the metrics line's words inside it.
    assert sorted(n for n in names if not n.startswith("AZURE") and f"`{n}`" not in text) == []
    assert sorted(n for n in names if not re.search(rf"\b{n}:", text) and n.startswith("AZURE")) == []


def test_the_dataset_dictionary_lists_the_public_row_in_order_with_its_encodings() -> None:
    text = (REPO / "docs" / "dataset.md").read_text()
    table_names = re.findall(r"^\| `([A-Za-z0-9]+)` \|", text, flags=re.MULTILINE)
    public = [field.name for field in contract.PUBLIC_ROW]
    first_seen = list(dict.fromkeys(n for n in table_names if n in public))
    assert first_seen == public
    for encoding in (f"`{contract.MISSING_NUMBER}`", f"`{contract.MISSING_TEXT}`", *(f'"{s}"' for s in
                     sorted(contract.TIMESTREAM_SCORE_VALUES))):  # fmt: skip
        assert encoding in text, encoding
    assert ", ".join(str(c) for c in contract.DESIRED_COUNTS) in text
    for measure, kind in contract.TIMESTREAM_MEASURES.items():
        assert f"| measure | `{measure}` | {kind} |" in text, measure
    for dimension in contract.TIMESTREAM_DIMENSIONS:
        assert f"| dimension | `{dimension}` |" in text, dimension
    assert "USD per hour" in text and "Linux" in text and "pay-as-you-go" in text
