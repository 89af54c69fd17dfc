"""infrastructure/*.tf parsed with python-hcl2 into plain lookups for tests.

python-hcl2 8.x does not evaluate expressions: ``jsonencode({...})`` and ``${var.x}`` come back as strings
(see docs/aws-facts.md section 6), so tests check those with small regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

INFRA = Path(__file__).resolve().parents[2] / "infrastructure"

_OPTIONS = hcl2.utils.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


@dataclass(frozen=True)
class Stack:
    """Every block of the stack: ``resources[type][name]``, ``data[type][name]``, variables, locals, outputs."""

    resources: dict[str, dict[str, dict[str, Any]]]
    data: dict[str, dict[str, dict[str, Any]]]
    variables: dict[str, dict[str, Any]]
    locals: dict[str, Any]
    outputs: dict[str, dict[str, Any]]
    terraform: list[dict[str, Any]]
    files: dict[str, str]

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]

    def policy_statements(self, name: str) -> list[dict[str, Any]]:
        return self.data["aws_iam_policy_document"][name]["statement"]


def _collect(target: dict[str, dict[str, dict[str, Any]]], blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        for kind, by_name in block.items():
            for name, attrs in by_name.items():
                assert name not in target.setdefault(kind, {}), f"duplicate {kind}.{name}"
                target[kind][name] = attrs


def load_stack(directory: Path = INFRA) -> Stack:
    """Parse every ``*.tf`` file of ``directory`` into a ``Stack``."""
    resources: dict[str, dict[str, dict[str, Any]]] = {}
    data: dict[str, dict[str, dict[str, Any]]] = {}
    variables: dict[str, dict[str, Any]] = {}
    locals_: dict[str, Any] = {}
    outputs: dict[str, dict[str, Any]] = {}
    terraform: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    for path in sorted(directory.glob("*.tf")):
        files[path.name] = path.read_text()
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=_OPTIONS)
        _collect(resources, parsed.get("resource", []))
        _collect(data, parsed.get("data", []))
        for block in parsed.get("variable", []):
            variables.update(block)
        for block in parsed.get("locals", []):
            locals_.update(block)
        for block in parsed.get("output", []):
            outputs.update(block)
        terraform.extend(parsed.get("terraform", []))
    return Stack(resources, data, variables, locals_, outputs, terraform, files)


def hcl_assignments(expression: str) -> dict[str, str]:
    """``key = value`` pairs of a flattened HCL object expression such as a ``jsonencode({...})`` string.

    Values are returned as written (quotes kept for string literals); nested objects are not split.
    """
    pairs = re.findall(r'"?([A-Za-z_][\w-]*)"?\s*=\s*("(?:[^"\\]|\\.)*"|[\w.\[\]()]+)', expression)
    return {key: value for key, value in pairs}
