"""The KQL subset of Microsoft's SpotResources samples (docs/azure-facts.md 3.4). Pure; not a KQL engine.

Supported: ``SpotResources`` then any of ``| where A and B ...`` with ``path =~ 'x'``, ``path == 'x'``,
``path != 'x'``, ``path !~ 'x'``, ``path in~ ('a', 'b')``, ``path in ('a', 'b')``;
``| project name = func(path), path, ...`` with ``tostring``, ``todouble``, ``toreal``, ``toint``,
``tolong``, ``tolower``, ``toupper``; ``| order by c [asc|desc], ...`` (``sort by``; default desc as in
KQL); ``| take N`` / ``| limit N``. Paths: ``a.b``, ``a['b']``, ``a[0]``. Anything else raises ``KqlError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PATH = r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*|\[\d+\]|\['[^']*'\])*"
_STRING = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_COND_RE = re.compile(
    rf"^\s*(?P<path>{_PATH})\s*(?P<op>=~|==|!=|!~|in~|in|!in~|!in)\s*"
    rf"(?:(?P<value>{_STRING})|\((?P<values>\s*(?:{_STRING})\s*(?:,\s*(?:{_STRING})\s*)*)\))\s*$"
)
_PROJECT_ITEM_RE = re.compile(
    rf"^\s*(?:(?P<alias>[A-Za-z_]\w*)\s*=\s*)?(?:(?P<func>[a-z]+)\(\s*(?P<fpath>{_PATH})\s*\)|(?P<path>{_PATH}))\s*$"
)
_ORDER_ITEM_RE = re.compile(r"^\s*(?P<col>[A-Za-z_][\w.]*)\s*(?P<dir>asc|desc)?\s*$")
_SEGMENT_RE = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]|\['([^']*)'\]")

FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "tostring": lambda v: "" if v is None else (v if isinstance(v, str) else json.dumps(v)
                                                if isinstance(v, dict | list) else str(v).lower()
                                                if isinstance(v, bool) else str(v)),
    "todouble": lambda v: _number(v, float), "toreal": lambda v: _number(v, float),
    "toint": lambda v: _number(v, int), "tolong": lambda v: _number(v, int),
    "tolower": lambda v: None if v is None else str(v).lower(),
    "toupper": lambda v: None if v is None else str(v).upper(),
}


class KqlError(ValueError):
    """A query outside the supported subset (answered as 400 BadRequest / InvalidQuery)."""


def _number(value: Any, kind: type) -> Any:
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None


def _unquote(text: str) -> str:
    return text[1:-1].encode().decode("unicode_escape") if "\\" in text else text[1:-1]


def _segments(path: str) -> list[str | int]:
    return [int(m[2]) if m[2] else (m[1] if m[1] else m[3]) for m in _SEGMENT_RE.finditer(path)]


def get_path(row: dict[str, Any], segments: list[str | int]) -> Any:
    value: Any = row
    for segment in segments:
        if isinstance(segment, int):
            value = value[segment] if isinstance(value, list) and -len(value) <= segment < len(value) else None
        else:
            value = value.get(segment) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


@dataclass(frozen=True)
class Condition:
    segments: list[str | int]
    op: str
    values: tuple[str, ...]

    def test(self, row: dict[str, Any]) -> bool:
        value = get_path(row, self.segments)
        text = "" if value is None else str(value)
        if self.op in ("=~", "in~", "!~", "!in~"):
            hit = text.lower() in {v.lower() for v in self.values}
        else:
            hit = text in self.values
        return not hit if self.op.startswith("!") else hit


@dataclass(frozen=True)
class Query:
    """A parsed query: a table and its steps ("where", conditions) / ("project", items) / ("order", keys)."""

    table: str
    steps: tuple[tuple[str, Any], ...]

    @property
    def truncating(self) -> bool:
        return any(kind == "take" for kind, _ in self.steps)


def _split_top(text: str, separator: str) -> list[str]:
    """Split on a separator outside quotes and parentheses."""
    parts, depth, quote, current = [], 0, "", []
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char in "([":
            depth += 1
            current.append(char)
        elif char in ")]":
            depth -= 1
            current.append(char)
        elif depth == 0 and text.startswith(separator, i):
            parts.append("".join(current))
            current = []
            i += len(separator)
            continue
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def parse(query: str) -> Query:
    """Parse a query string of the supported subset.

    Raises:
        KqlError: unknown table, operator, function or syntax (the message names the offending part).
    """
    stages = [s.strip() for s in _split_top(query.strip(), "|")]
    table = stages[0]
    if table.lower() != "spotresources":
        raise KqlError(f"Table '{table}' is not supported by the emulator; use SpotResources.")
    steps: list[tuple[str, Any]] = []
    for stage in stages[1:]:
        keyword, _, rest = stage.partition(" ")
        keyword = keyword.lower()
        if keyword == "where":
            conditions = []
            for clause in re.split(r"\s+and\s+", rest.strip()):
                match = _COND_RE.match(clause)
                if match is None:
                    raise KqlError(f"Unsupported where clause '{clause.strip()}'.")
                raw = [match["value"]] if match["value"] else re.findall(_STRING, match["values"])
                conditions.append(Condition(_segments(match["path"]), match["op"],
                                            tuple(_unquote(v) for v in raw)))
            steps.append(("where", tuple(conditions)))
        elif keyword == "project":
            items = []
            for item in _split_top(rest, ","):
                match = _PROJECT_ITEM_RE.match(item)
                if match is None:
                    raise KqlError(f"Unsupported project item '{item.strip()}'.")
                func = match["func"]
                if func is not None and func not in FUNCTIONS:
                    raise KqlError(f"Unsupported function '{func}'.")
                path = match["fpath"] or match["path"]
                alias = match["alias"] or path.replace(".", "_").replace("[", "_").replace("]", "").replace("'", "")
                items.append((alias, func, _segments(path)))
            steps.append(("project", tuple(items)))
        elif keyword in ("order", "sort"):
            by, _, keys_text = rest.strip().partition(" ")
            if by.lower() != "by":
                raise KqlError(f"Expected '{keyword} by'.")
            keys = []
            for item in _split_top(keys_text, ","):
                match = _ORDER_ITEM_RE.match(item)
                if match is None:
                    raise KqlError(f"Unsupported order key '{item.strip()}'.")
                keys.append((_segments(match["col"]), (match["dir"] or "desc") == "desc"))
            steps.append(("order", tuple(keys)))
        elif keyword in ("take", "limit"):
            if not rest.strip().isdigit():
                raise KqlError(f"'{keyword}' needs a number.")
            steps.append(("take", int(rest.strip())))
        else:
            raise KqlError(f"Operator '{keyword}' is not supported by the emulator.")
    return Query(table, tuple(steps))


def run(query: Query, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply the steps in order; returns new row dicts for projections (input rows are not mutated)."""
    result = rows
    for kind, arg in query.steps:
        if kind == "where":
            result = [row for row in result if all(c.test(row) for c in arg)]
        elif kind == "project":
            projected = []
            for row in result:
                out = {}
                for alias, func, segments in arg:
                    value = get_path(row, segments)
                    out[alias] = FUNCTIONS[func](value) if func else value
                projected.append(out)
            result = projected
        elif kind == "order":
            for segments, descending in reversed(arg):
                present = [r for r in result if get_path(r, segments) is not None]
                missing = [r for r in result if get_path(r, segments) is None]
                present.sort(key=lambda r, s=segments: get_path(r, s), reverse=descending)
                result = present + missing
        elif kind == "take":
            result = result[:arg]
    return result


def column_type(values: list[Any]) -> str:
    """Table-format column type from the first non-null value."""
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "number"
        if isinstance(value, dict | list):
            return "object"
        return "string"
    return "string"
