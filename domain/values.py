"""Small value types and the field validators every domain class uses.

Money, prices and quantities are `decimal.Decimal`; `float` is refused here so binary rounding
never enters the core (adapters convert at the boundary, quantised to the instrument's tick).
Timestamps are timezone-aware UTC `datetime`s (a `pandas.Timestamp` is a `datetime` and passes).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from ordergate.domain.errors import InvalidValue

__all__ = [
    "ID_MAX_LENGTH",
    "POSITIVE_DECIMAL",
    "ZERO",
    "BrokerOrderId",
    "ClientOrderId",
    "CorrelationId",
    "ExecutionId",
    "InstrumentId",
    "PositionId",
    "Side",
    "SignalId",
    "check_decimal",
    "check_text",
    "check_utc",
    "decimal_field",
    "opt_decimal_field",
    "utc_field",
]

ZERO = Decimal(0)


def check_decimal(
    field: str,
    value: Any,
    *,
    positive: bool = False,
    non_negative: bool = False,
) -> Decimal:
    """Return `value` if it is a finite Decimal obeying the sign rule, else raise `InvalidValue`."""
    if not isinstance(value, Decimal):
        if isinstance(value, float):
            hint = " (convert floats at the adapter boundary: Decimal(str(x)))"
        elif isinstance(value, int) and not isinstance(value, bool):
            hint = f" (an int converts exactly: Decimal({value}))"
        elif isinstance(value, str):
            hint = f" (parse text exactly: Decimal({value!r}))"
        else:
            hint = ""
        raise InvalidValue(field, value, f"must be a decimal.Decimal{hint}")
    if not value.is_finite():
        raise InvalidValue(field, value, "must be finite (no NaN or infinity)")
    if positive and value <= 0:
        raise InvalidValue(field, value, "must be > 0")
    if non_negative and value < 0:
        raise InvalidValue(field, value, "must be >= 0")
    return value


def check_utc(field: str, value: Any) -> datetime:
    """Return `value` if it is an aware datetime at UTC offset zero, else raise `InvalidValue`."""
    if not isinstance(value, datetime):
        raise InvalidValue(field, value, "must be a timezone-aware UTC datetime")
    offset = value.utcoffset()
    if offset is None:
        raise InvalidValue(field, value, "must be timezone-aware (naive datetimes are refused)")
    if offset != timedelta(0):
        raise InvalidValue(field, value, "must be in UTC (convert with .astimezone(timezone.utc))")
    return value


def _decimal_validator(positive: bool, non_negative: bool) -> Any:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_decimal(
            f"{type(inst).__name__}.{attribute.name}",
            value,
            positive=positive,
            non_negative=non_negative,
        )

    return validate


def _opt_decimal_validator(positive: bool, non_negative: bool) -> Any:
    inner = _decimal_validator(positive, non_negative)

    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            inner(inst, attribute, value)

    return validate


def _utc_validator(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_utc(f"{type(inst).__name__}.{attribute.name}", value)


POSITIVE_DECIMAL = _decimal_validator(positive=True, non_negative=False)
"""attrs validator for a finite Decimal > 0 (for use with attrs.field where mypy needs it)."""


def decimal_field(*, positive: bool = False, non_negative: bool = False, **kw: Any) -> Any:
    """An attrs field holding a finite Decimal, with an optional sign rule."""
    return attrs.field(validator=_decimal_validator(positive, non_negative), **kw)


def opt_decimal_field(*, positive: bool = False, non_negative: bool = False, **kw: Any) -> Any:
    """An attrs field holding None or a finite Decimal, defaulting to None."""
    kw.setdefault("default", None)
    return attrs.field(validator=_opt_decimal_validator(positive, non_negative), **kw)


def utc_field(**kw: Any) -> Any:
    """An attrs field holding an aware UTC datetime."""
    return attrs.field(validator=_utc_validator, **kw)


ID_MAX_LENGTH = 128
"""The longest identifier (in characters) unless its type says less (`SignalId`: 64)."""


def check_text(
    field: str,
    value: Any,
    *,
    max_length: int,
    ascii_only: bool = False,
    allow_empty: bool = False,
) -> str:
    """Return `value` if it is a string of at most `max_length` printable characters, else raise.

    Printable means no control, format, surrogate or line-separator characters (NUL, BOM,
    bidirectional overrides, ...: `str.isprintable`), and no leading or trailing whitespace;
    `ascii_only` also refuses spaces and anything outside printable ASCII. The length is
    checked first, so a hostile megabyte is refused without being scanned.
    """
    if not isinstance(value, str):
        raise InvalidValue(field, value, "must be a string")
    if len(value) > max_length:
        raise InvalidValue(
            field, value, f"must be at most {max_length} characters (it has {len(value)})"
        )
    if not value.strip():
        if allow_empty and not value:
            return value
        raise InvalidValue(field, value, "must be a non-empty string")
    if not value.isprintable():
        index, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
        raise InvalidValue(
            field,
            value,
            f"must hold printable characters only ({char!r} at index {index} is not)",
        )
    if value != value.strip():
        raise InvalidValue(field, value, "must not start or end with whitespace")
    if ascii_only and not (value.isascii() and " " not in value):
        index, char = next((i, c) for i, c in enumerate(value) if not c.isascii() or c == " ")
        raise InvalidValue(
            field,
            value,
            f"must hold printable ASCII without spaces only ({char!r} at index {index} is not)",
        )
    return value


def _identifier_rule(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    kind = type(inst)
    check_text(
        f"{kind.__name__}.{attribute.name}",
        value,
        max_length=kind.MAX_LENGTH,
        ascii_only=kind.ASCII_ONLY,
    )


@attrs.frozen(order=True)
class _Identifier:
    """An identifier: at most `MAX_LENGTH` printable characters, no surrounding whitespace
    (`ASCII_ONLY`: printable ASCII without spaces). See `check_text`."""

    MAX_LENGTH: ClassVar[int] = ID_MAX_LENGTH
    ASCII_ONLY: ClassVar[bool] = False

    value: str = attrs.field(validator=_identifier_rule)

    def __str__(self) -> str:
        return self.value


@attrs.frozen(order=True)
class InstrumentId(_Identifier):
    """Our identifier of an instrument: a symbol for stocks, the OCC symbol for options."""


@attrs.frozen(order=True)
class ClientOrderId(_Identifier):
    """Our identifier of an order, assigned when the intent is created (before risk)."""


@attrs.frozen(order=True)
class BrokerOrderId(_Identifier):
    """The broker's identifier of an order (IB's orderId/permId, the sim's sequence)."""


@attrs.frozen(order=True)
class ExecutionId(_Identifier):
    """The broker's identifier of one execution; fills are applied once per execution id."""


@attrs.frozen(order=True)
class CorrelationId(_Identifier):
    """Links a signal, its risk decision, its orders, broker calls and audit records."""


@attrs.frozen(order=True)
class SignalId(_Identifier):
    """The strategy's identifier of a signal; a signal id seen before is denied.

    At most 64 characters of printable ASCII without spaces: it becomes part of the client
    order ids (`<signal id>-E`, `-TP`, `-SL`) that travel to the broker (IB's `orderRef`).
    """

    MAX_LENGTH: ClassVar[int] = 64
    ASCII_ONLY: ClassVar[bool] = True


@attrs.frozen(order=True)
class PositionId(_Identifier):
    """Identifier of a position (one per instrument and account)."""


class Side(enum.Enum):
    """Order side. `sign` is +1 for BUY and -1 for SELL."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY
