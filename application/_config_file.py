"""Reading a config file's bytes into a TOML document, with every failure a `(key, message)`.

`tomllib` trusts its input: it raises `UnicodeDecodeError` on bytes that are not UTF-8,
`RecursionError` on deeply nested arrays, and `ValueError` on integers longer than Python will
convert (4,300 digits). So the text is bounded before it is parsed: at most `MAX_FILE_BYTES`,
UTF-8, values nested at most `MAX_NESTING` deep, numbers at most `MAX_NUMBER_CHARS` long. Each
problem names the line, the column and (as far as the line shows it) the dotted key, and shows
the offending text. The document that comes out is bounded again by `check_document` (the same
bounds hold for a mapping handed to `settings_from_mapping`).

This module parses text; it reads no file and builds no setting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_KEY_CHARS",
    "MAX_NESTING",
    "MAX_NUMBER_CHARS",
    "check_document",
    "parse_toml",
]

MAX_FILE_BYTES = 1 << 20
MAX_NESTING = 16  # tables, arrays and inline tables inside one another (settings need 6)
MAX_NUMBER_CHARS = 64
MAX_KEY_CHARS = 128

_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*(?P<key>[A-Za-z0-9_\-.\"' ]+?)\s*=")
_NUMBER_CHARS = frozenset("0123456789_")


class TomlProblem(ValueError):
    """A file that cannot be read as settings: `key` (dotted, or "" when the line shows none)
    and a `message` that names the place and the text."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unquote(dotted: str) -> str:
    parts = (part.strip().strip("\"'") for part in dotted.split("."))
    return ".".join(part for part in parts if part)


def key_at(lines: list[str], line_number: int) -> str:
    """The dotted key that line `line_number` (1-based) assigns, as the lines above show it: the
    last table header, then the nearest `key =` at or above the line (a multi-line array)."""
    table = ""
    assigned = ""
    for index, line in enumerate(lines[:line_number], start=1):
        header = _HEADER.match(line)
        if header is not None and "=" not in line.split("#", 1)[0]:
            table, assigned = _unquote(header["name"]), ""
            continue
        found = _ASSIGNMENT.match(line)
        if found is not None:
            assigned = _unquote(found["key"])
        elif index == line_number and not line.strip():
            assigned = ""
    if assigned:
        return f"{table}.{assigned}" if table else assigned
    return table


def _located(source: str, lines: list[str], line: int, column: int, what: str) -> TomlProblem:
    """A problem at `line`, `column`: `what` is phrased to follow the file name when it starts
    with "is" ("FILE is not valid TOML: ..."), else it stands alone."""
    key = key_at(lines, line)
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    lead = f"{key}: " if key else ""
    if what.startswith("is "):
        head, where = f"{source} {what}", f"at line {line}, column {column}"
    else:
        head, where = what, f"at line {line}, column {column} of {source}"
    return TomlProblem(key, f"{lead}{head} ({where}; the line reads {_clip(text, 60)!r})")


def _decode(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TomlProblem(
            "", f"{source} is UTF-16 text; config files are UTF-8: save it again as UTF-8"
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        lines = data.decode("utf-8", errors="replace").splitlines()
        bad = data[exc.start : exc.end]
        raise _located(
            source, lines, line, column, f"bytes {bad!r} are not UTF-8 (config files are UTF-8)"
        ) from None


def _outside_strings(text: str) -> Iterator[tuple[int, str]]:
    """`(index, char)` of every character not inside a TOML string or comment."""
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == "#":
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        if char in "\"'":
            triple = text.startswith(char * 3, index)
            quote = char * 3 if triple else char
            index += len(quote)
            while index < length:
                if char == '"' and text[index] == "\\":
                    index += 2
                    continue
                if text.startswith(quote, index):
                    index += len(quote)
                    break
                if not triple and text[index] == "\n":
                    break  # an unterminated string: tomllib reports it
                index += 1
            continue
        yield index, char
        index += 1


def _scan(text: str, source: str) -> None:
    """Refuse nesting deeper than `MAX_NESTING` and numbers longer than `MAX_NUMBER_CHARS`
    before `tomllib` sees them (it would recurse, or call `int()` on them)."""
    depth = 0
    run_start, run_length = -1, 0
    for index, char in _outside_strings(text):
        if char in _NUMBER_CHARS:
            if run_length == 0 or index != run_start + run_length:
                run_start, run_length = index, 0
            run_length += 1
            if run_length > MAX_NUMBER_CHARS:
                raise _problem_at(
                    text,
                    source,
                    run_start,
                    f"a number of more than {MAX_NUMBER_CHARS} digits "
                    f"({text[run_start : run_start + 16]}...) is too long for any setting",
                )
        else:
            run_length = 0
        if char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise _problem_at(
                    text, source, index, f"values nested more than {MAX_NESTING} deep"
                )
        elif char in "]}":
            depth = max(depth - 1, 0)


def _problem_at(text: str, source: str, index: int, what: str) -> TomlProblem:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return _located(source, text.splitlines(), line, column, what)


def parse_toml(data: bytes, source: str) -> dict[str, Any]:
    """The TOML document in `data` (the bytes of the file `source`), or `TomlProblem`."""
    if len(data) > MAX_FILE_BYTES:
        raise TomlProblem(
            "",
            f"{source} is {len(data):,} bytes; a config file may have at most {MAX_FILE_BYTES:,}",
        )
    text = _decode(data, source)
    _scan(text, source)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = _AT_LINE.search(str(exc))
        reason = _AT_LINE.sub("", str(exc)).strip()
        if position is None:
            raise TomlProblem("", f"{source} is not valid TOML: {reason}") from None
        raise _located(
            source,
            text.splitlines(),
            int(position[1]),
            int(position[2]),
            f"is not valid TOML: {reason}",
        ) from None
    except (RecursionError, ValueError) as exc:  # bounded above; kept so nothing escapes
        raise TomlProblem("", f"{source} cannot be read as TOML: {_clip(str(exc), 120)}") from None
    check_document(document)
    return document


def check_document(document: Mapping[Any, Any]) -> None:
    """Refuse a document (from a file or a mapping) nested deeper than `MAX_NESTING`, or with
    keys that are not short strings. Walks iteratively: any depth is safe to look at."""
    pending: list[tuple[str, Any, int]] = [("", document, 0)]
    while pending:
        prefix, value, depth = pending.pop()
        if depth > MAX_NESTING:
            shown = _clip(prefix, 60)
            raise TomlProblem(
                shown, f"{shown}: values nested more than {MAX_NESTING} deep are not settings"
            )
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    shown = f"{prefix}.{key!r}" if prefix else repr(key)
                    raise TomlProblem(_clip(shown, 60), f"{_clip(shown, 60)}: keys must be strings")
                dotted = f"{prefix}.{key}" if prefix else key
                if len(key) > MAX_KEY_CHARS:
                    shown = _clip(dotted, 60)
                    raise TomlProblem(
                        shown, f"{shown}: a key may have at most {MAX_KEY_CHARS} characters"
                    )
                pending.append((dotted, item, depth + 1))
        elif isinstance(value, list | tuple):
            pending.extend((f"{prefix}[{i}]", item, depth + 1) for i, item in enumerate(value))
