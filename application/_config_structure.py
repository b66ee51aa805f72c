"""The cattrs converter that turns TOML and environment values into settings, and its messages.

Hooks are strict: TOML already types its values, so a string where an integer belongs is an error,
not a conversion. Text from an environment variable or a command-line option (`SourcedText`) is
the exception: it is parsed into whatever type the field wants. Money and limits become `Decimal`
through `Decimal(str(x))`, so `"0.1"` and `0.1` both give exactly `Decimal("0.1")`.

Errors are collected by cattrs' detailed validation and walked with `cattrs.transform_error`; each
becomes a `(dotted key, message)` pair whose message names the key and the value (the value taken
from the document, so text from the environment says which variable it came from). Displayed
values always pass through `redact()`.
"""

from __future__ import annotations

import ast
import difflib
import enum
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, get_args, get_origin

import attrs
import cattrs

from ordergate.application._secrets import redact
from ordergate.domain.errors import InvalidValue

__all__ = ["SourcedText", "make_converter", "problems_from", "show"]

_MISSING = object()
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_PATH_TOKEN = re.compile(r"\.([^.\[]+)|\[((?:'(?:[^'\\]|\\.)*')|(?:\"(?:[^\"\\]|\\.)*\")|-?\d+)\]")


class SourcedText(str):
    """Text from outside the config file; `source` says where (e.g. `ORDERGATE_BROKER__PORT`)."""

    source: str

    def __new__(cls, value: str, source: str) -> SourcedText:
        """Wrap `value`, remembering `source` for error messages."""
        text = super().__new__(cls, value)
        text.source = source
        return text


class _Bad(ValueError):
    """A hook's complaint, already phrased with the value (the key is added by the renderer);
    `sub_key` names the entry of a table the complaint is about, when it is one entry's."""

    def __init__(self, message: str, sub_key: str | None = None) -> None:
        super().__init__(message)
        self.sub_key = sub_key


_SHOWN_CHARS = 80
_MAX_NUMBER_TEXT = 64  # no setting needs a longer number (see `_settings.MAX_AMOUNT`)


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def show(value: Any) -> str:
    """A value as messages show it: TOML-like, redacted, short, and where it came from.

    Never fails: integers too long for `repr` (Python refuses over 4,300 digits) are described
    by their size, long text is cut.
    """
    if isinstance(value, SourcedText):
        return f"{_shorten(repr(redact(str(value))))} (from {value.source})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return repr(value.value)
    if isinstance(value, int) and value.bit_length() > 200:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        return f"an integer of about {digits} digits"
    if isinstance(value, Decimal):
        return _shorten(str(value))
    if isinstance(value, Mapping):
        return "a table"
    return _shorten(redact(repr(value)))


# --- hooks -------------------------------------------------------------------------------------


def _structure_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return str(value)
    raise _Bad(f"expected a string; got {show(value)}")


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, SourcedText):
        try:
            return int(value.strip())
        except ValueError:
            raise _Bad(f"expected an integer; got {show(value)}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _Bad(f"expected an integer; got {show(value)}")


def _structure_float(value: Any, _: type) -> float:
    number: float | None = None
    if isinstance(value, SourcedText):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    if number is None or not math.isfinite(number):
        raise _Bad(f"expected a number of seconds; got {show(value)}")
    return number


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, SourcedText):
        word = value.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise _Bad(f"expected true or false; got {show(value)}")


def _decimal_from(value: Any) -> Decimal | None:
    """The Decimal a TOML number or text stands for; None if it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)  # exact, and no str() (which refuses very long integers)
    if isinstance(value, float):
        value = repr(value)
    if not isinstance(value, str) or len(value) > _MAX_NUMBER_TEXT:
        return None
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _structure_decimal(value: Any, _: type) -> Decimal:
    number = _decimal_from(value)
    if number is None:
        raise _Bad(f'expected a decimal number (e.g. 1000 or "0.05"); got {show(value)}')
    return number


def _structure_fraction(value: Any, _: type) -> Decimal:
    """A fraction as a number (0.03) or as a percent string ("3%")."""
    number: Decimal | None
    if isinstance(value, str) and value.strip().endswith("%"):
        percent = _decimal_from(value.strip().removesuffix("%"))
        number = None if percent is None else percent.scaleb(-2)
    else:
        number = _decimal_from(value)
    if number is None:
        raise _Bad(f'expected a fraction such as 0.03 or a percent such as "3%"; got {show(value)}')
    return number


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    for member in cls:
        if value == member.value and isinstance(value, str):
            return member
    choices = ", ".join(str(m.value) for m in cls)
    raise _Bad(f"{show(value)} is not one of {choices}")


def _structure_str_tuple(value: Any, _: type) -> tuple[str, ...]:
    if isinstance(value, SourcedText):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise _Bad(f"item {index} is not a string; got {show(item)}")
        return tuple(str(item) for item in value)
    raise _Bad(f'expected a list of strings (e.g. ["AAPL", "MSFT"]); got {show(value)}')


def _is_enum_switches(type_: Any) -> bool:
    """`Mapping[SomeEnum, bool]`: a table switching rules or breakers on and off."""
    args = get_args(type_)
    return (
        get_origin(type_) is Mapping
        and len(args) == 2
        and isinstance(args[0], type)
        and issubclass(args[0], enum.Enum)
        and args[1] is bool
    )


def _structure_switches(value: Any, type_: Any) -> dict[enum.Enum, bool]:
    keys: type[enum.Enum] = get_args(type_)[0]
    if not isinstance(value, Mapping):
        raise _Bad(f"expected a table of name = true|false; got {show(value)}")
    switches: dict[enum.Enum, bool] = {}
    problems: list[_Bad] = []
    for name, flag in value.items():
        member = next((m for m in keys if m.value == name), None)
        if member is None:
            choices = [str(m.value) for m in keys]
            close = difflib.get_close_matches(str(name), choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                _Bad(
                    f"unknown switch (value {show(flag)}); expected one of: "
                    f"{', '.join(choices)}{hint}",
                    str(name),
                )
            )
            continue
        try:
            switches[member] = _structure_bool(flag, bool)
        except _Bad:
            problems.append(_Bad(f"expected true or false; got {show(flag)}", str(name)))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ExceptionGroup("switches", problems)
    return switches


def make_converter(fraction_type: Any = None) -> cattrs.Converter:
    """A strict converter: detailed validation, unknown keys forbidden, the hooks above.

    `fraction_type` (a `NewType` of Decimal) is structured from numbers or percent strings.
    """
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    # Enums are registered on `StrEnum` as well as `Enum`: singledispatch follows the MRO, and a
    # StrEnum's MRO reaches `str` (the strict string hook) before `Enum`.
    for cls, hook in (
        (str, _structure_str),
        (int, _structure_int),
        (float, _structure_float),
        (bool, _structure_bool),
        (Decimal, _structure_decimal),
        (enum.Enum, _structure_enum),
        (enum.StrEnum, _structure_enum),
    ):
        converter.register_structure_hook(cls, hook)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_str_tuple)
    converter.register_structure_hook_func(_is_enum_switches, _structure_switches)
    if fraction_type is not None:
        converter.register_structure_hook(fraction_type, _structure_fraction)
    return converter


# --- errors ------------------------------------------------------------------------------------


def _segments(path: str) -> list[str | int]:
    """`$.risk.overrides['AAPL'].max_position` -> ['risk', 'overrides', 'AAPL', 'max_position']."""
    segments: list[str | int] = []
    for name, index in _PATH_TOKEN.findall(path.removeprefix("$")):
        if name:
            segments.append(name)
        else:
            literal = ast.literal_eval(index)
            segments.append(literal if isinstance(literal, int) else str(literal))
    return segments


def _dotted(segments: list[str | int]) -> str:
    text = ""
    for segment in segments:
        text += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    return text.removeprefix(".")


def _lookup(document: Any, segments: list[str | int]) -> Any:
    for segment in segments:
        if isinstance(document, Mapping) and segment in document:  # noqa: SIM114 (mypy: key types)
            document = document[segment]
        elif isinstance(document, list) and isinstance(segment, int) and segment < len(document):
            document = document[segment]
        else:
            return _MISSING
    return document


def _join(parent: str, child: str) -> str:
    return f"{parent}.{child}" if parent else child


def _describe(
    exc: BaseException, type_: type | None, segments: list[str | int], document: Any
) -> list[tuple[str, str]]:
    key = _dotted(segments)
    if isinstance(exc, BaseExceptionGroup) and not isinstance(exc, cattrs.BaseValidationError):
        # Checks across fields (a settings class's __attrs_post_init__) report several at once.
        return [p for sub in exc.exceptions for p in _describe(sub, None, segments, document)]
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        allowed = [a.name for a in attrs.fields(exc.cl) if a.metadata.get("from_file", True)]
        found = []
        for extra in sorted(exc.extra_fields, key=str):
            value = _lookup(document, [*segments, extra])
            close = difflib.get_close_matches(str(extra), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            shown = "" if value is _MISSING else f" (value {show(value)})"
            found.append(
                (
                    _join(key, extra),
                    f"{_join(key, extra)}: unknown key{shown}; expected one of: "
                    f"{', '.join(allowed)}{hint}",
                )
            )
        return found
    if isinstance(exc, InvalidValue):  # a field validator of a settings class
        field = _join(key, exc.field)
        raw = _lookup(document, [*segments, exc.field])
        return [(field, f"{field}: {exc.rule}; got {show(exc.value if raw is _MISSING else raw)}")]
    raw = _lookup(document, segments)
    if isinstance(exc, _Bad):
        where = key if exc.sub_key is None else _join(key, exc.sub_key)
        return [(where, f"{where}: {exc}")]
    if type_ is not None and attrs.has(type_):
        return [(key, f"{key}: expected a table; got {show(raw)}")]
    kind = getattr(type_, "__name__", str(type_))
    return [(key, f"{key}: {show(raw)} is not a valid {kind} ({_shorten(str(exc))})")]


def problems_from(exc: BaseException, document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`(dotted key, message)` for every problem in a cattrs structuring error.

    `transform_error` walks the exception tree and builds each problem's path; our formatter
    records the leaf exceptions in the same order, so each path pairs with its exception.
    """
    leaves: list[tuple[BaseException, type | None]] = []

    def record(leaf: BaseException, type_: type | None) -> str:
        leaves.append((leaf, type_))
        return ""

    lines = cattrs.transform_error(exc, path="$", format_exception=record)
    problems: list[tuple[str, str]] = []
    for line, (leaf, type_) in zip(lines, leaves, strict=True):
        path = line.removeprefix(" @ ")
        problems.extend(_describe(leaf, type_, _segments(path), document))
    return problems
