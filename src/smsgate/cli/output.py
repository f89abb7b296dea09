"""What the CLI prints: JSON for scripts (``--json``), aligned tables for people.

A list of records is a table with a header; one record is a column of ``name  value`` lines, its
nested objects flattened to dotted names (``limits.OTP.per_day``) and any list of records inside
it printed after it as a table of its own. Values read as in JSON (``true``, ``-`` for null), never
as Python reprs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

__all__ = ["print_output", "render"]


def print_output(output: Any, as_json: bool) -> None:
    """Print a command's result: JSON with ``--json``, else for people."""
    if as_json:
        print(json.dumps(output, indent=2, ensure_ascii=False))
    else:
        print(render(output))


def render(output: Any) -> str:
    """``output`` for people (see the module's docstring)."""
    if isinstance(output, Mapping):
        return _record(output)
    if isinstance(output, list) and all(isinstance(row, Mapping) for row in output):
        return _table(output)
    return json.dumps(output, indent=2, ensure_ascii=False)


def _record(record: Mapping[str, Any]) -> str:
    fields = list(_flatten(record, ""))
    tables = [(k, v) for k, v in record.items() if _is_records(v)]
    width = max((len(name) for name, _ in fields), default=0)
    lines = [f"{name:<{width}}  {value}".rstrip() for name, value in fields]
    for name, rows in tables:
        lines += ["", f"{name}:", *("  " + line for line in _table(rows).splitlines())]
    return "\n".join(lines)


def _flatten(record: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for key, value in record.items():
        name = f"{prefix}{key}"
        if _is_records(value):
            continue  # printed as a table after the fields
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, _cell(value)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(none)"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    return "\n".join(
        "  ".join(f"{value:<{widths[i]}}" for i, value in enumerate(line)).rstrip()
        for line in [columns, *cells]
    )


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _cell(value: Any) -> str:
    if value is None or value in ({}, []):
        return "-"
    if isinstance(value, str):
        return value.replace("\n", "\\n")
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(v if isinstance(v, str) else json.dumps(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def iso_time(timestamp: float, zone: tzinfo = UTC) -> str:
    """ISO 8601 to the second, ``Z`` for UTC, else the zone's offset at that moment."""
    text = datetime.fromtimestamp(timestamp, zone).isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if zone is UTC else text
