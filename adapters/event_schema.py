"""JSON Schemas of the lifecycle events, generated from the event classes themselves.

`event_schemas()` walks each event's attrs fields and type hints and says how
`serialization.encode_event` writes them: money and quantities as decimal strings, times as ISO
8601 with a zone, identifiers as strings, enums by value, every field present (null where
optional), plus `_type` (the class name). `events_markdown()` renders docs/events.md's generated
part; `python -m ordergate.adapters.event_schema [--check] [FILE]` rewrites (or checks) it
between its markers.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from ordergate.adapters.topics import TOPIC_NAMES, Topics
from ordergate.domain.events import LifecycleEvent

__all__ = ["BEGIN", "END", "event_schemas", "event_types", "events_markdown", "schema_of"]

BEGIN = "<!-- BEGIN GENERATED: python -m ordergate.adapters.event_schema -->"
END = "<!-- END GENERATED -->"
DECIMAL = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"}
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_types() -> list[type]:
    """Every lifecycle event class, in the order of the `LifecycleEvent` union."""
    return list(typing.get_args(LifecycleEvent))


def _is_identifier(cls: type) -> bool:
    fields = attrs.fields(cls) if attrs.has(cls) else ()
    return len(fields) == 1 and fields[0].name == "value"


def _type_schema(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = (
            _type_schema(options[0])
            if len(options) == 1
            else {"anyOf": [_type_schema(o) for o in options]}
        )
        if type(None) in typing.get_args(hint):
            return {"anyOf": [inner, {"type": "null"}]}
        return inner
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if len(typing.get_args(hint)) == 2 and typing.get_args(hint)[1] is Ellipsis:
            return {"type": "array", "items": _type_schema(args[0])}
        if origin is list:
            return {"type": "array", "items": _type_schema(args[0]) if args else {}}
        return {"type": "array", "prefixItems": [_type_schema(a) for a in args]}
    if origin in (dict, Mapping) or hint in (dict, Mapping) or origin is typing.Mapping:
        return {"type": "object"}
    if hint is Any:
        return {}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if hint is Decimal:
        return dict(DECIMAL)
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if hint is date:
        return {"type": "string", "format": "date"}
    if hint is time:
        return {"type": "string", "pattern": r"^[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint]
        kind = "integer" if all(isinstance(v, int) for v in values) else "string"
        return {"type": kind, "enum": values}
    if isinstance(hint, type) and attrs.has(hint):
        if _is_identifier(hint):
            return _type_schema(typing.get_type_hints(hint)["value"])
        return _object_schema(hint)
    raise TypeError(f"no JSON Schema for the type {hint!r}")


def _object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {f.name: _type_schema(hints[f.name]) for f in attrs.fields(cls)}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def schema_of(cls: type) -> dict[str, Any]:
    """The JSON Schema of one event class as `encode_event` writes it."""
    schema = _object_schema(cls)
    schema["properties"]["_type"] = {"const": cls.__name__}
    schema["required"].append("_type")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": cls.__name__,
        "description": " ".join((cls.__doc__ or "").split()),
        **schema,
    }


def event_schemas() -> dict[str, dict[str, Any]]:
    """Every event's schema, by class name."""
    return {cls.__name__: schema_of(cls) for cls in event_types()}


def events_markdown() -> str:
    """The generated part of docs/events.md: each event's topic and JSON Schema."""
    topics = Topics()
    lines = [BEGIN, "", "| Event | Topic (no prefix) | version |", "|---|---|---|"]
    for cls in event_types():
        version = next(f.default for f in attrs.fields(cls) if f.name == "version")
        lines.append(f"| `{cls.__name__}` | `{topics.name(TOPIC_NAMES[cls])}` | {version} |")
    lines.append("")
    for name, schema in event_schemas().items():
        lines += [f"### {name}", "", "```json", json.dumps(schema, indent=2), "```", ""]
    lines.append(END)
    return "\n".join(lines)


def _replace(text: str) -> str:
    head, begin, rest = text.partition(BEGIN)
    if not begin:
        raise ValueError(f"no {BEGIN!r} marker")
    _, end, tail = rest.partition(END)
    if not end:
        raise ValueError(f"no {END!r} marker")
    return head + events_markdown() + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate docs/events.md's schemas.")
    parser.add_argument("file", nargs="?", default="docs/events.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    path = Path(args.file)
    text = path.read_text()
    fresh = _replace(text)
    if args.check:
        if fresh != text:
            print(
                f"{path} is stale: run python -m ordergate.adapters.event_schema", file=sys.stderr
            )
            return 1
        return 0
    path.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
