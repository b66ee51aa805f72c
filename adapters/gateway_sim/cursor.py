"""A typed reader over one client message's fields, and the 12-field contract block.

Client requests are positional: a parser walks them with a `FieldCursor`, reading each field as
the type it must be and failing with `RequestError` (never a bare IndexError or ValueError) when a
field is missing or malformed, so the server can answer with an IB-style error instead of dropping
the connection. Must never import `ib_async`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import attrs

__all__ = ["FieldCursor", "RequestError", "WireContract", "read_contract"]


class RequestError(ValueError):
    """A client message could not be read. `req_id` is the request's id when it was readable."""

    def __init__(self, detail: str, *, msg_id: int | None = None, req_id: int = -1) -> None:
        super().__init__(detail)
        self.detail = detail
        self.msg_id = msg_id
        self.req_id = req_id


class FieldCursor:
    """Reads fields left to right; `finish()` asserts that every field was consumed."""

    def __init__(self, fields: Sequence[str], start: int = 0) -> None:
        self._fields = fields
        self._pos = start

    @property
    def position(self) -> int:
        """Index of the next field to read."""
        return self._pos

    @property
    def remaining(self) -> int:
        """Fields not yet read."""
        return len(self._fields) - self._pos

    def text(self, name: str = "field") -> str:
        """The next field as it is."""
        if self._pos >= len(self._fields):
            raise RequestError(
                f"message ended at field {self._pos} while reading {name} "
                f"({len(self._fields)} fields received)"
            )
        value = self._fields[self._pos]
        self._pos += 1
        return value

    def skip(self, count: int = 1, name: str = "field") -> None:
        """Consume `count` fields whose values the emulator does not use."""
        for _ in range(count):
            self.text(name)

    def integer(self, name: str = "field", default: int = 0) -> int:
        """The next field as an int; the empty field reads as `default`."""
        raw = self.text(name)
        if raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise RequestError(f"{name} must be an integer, got {raw!r}") from None

    def optional_integer(self, name: str = "field") -> int | None:
        """The next field as an int, or None when empty."""
        raw = self.text(name)
        if raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            raise RequestError(f"{name} must be an integer, got {raw!r}") from None

    def decimal(self, name: str = "field") -> Decimal | None:
        """The next field as a finite Decimal, or None when empty (IB's unset value)."""
        raw = self.text(name)
        if raw == "":
            return None
        if raw == "Infinite":
            raise RequestError(f"{name} is infinite; the emulator needs a finite number")
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise RequestError(f"{name} must be a number, got {raw!r}") from None
        if not value.is_finite():
            raise RequestError(f"{name} must be a finite number, got {raw!r}")
        return value

    def raw_number(self, name: str = "field") -> str:
        """The next field, checked to be empty, a number or `Infinite`, returned as text."""
        raw = self.text(name)
        if raw not in {"", "Infinite"}:
            try:
                Decimal(raw)
            except InvalidOperation:
                raise RequestError(f"{name} must be a number, got {raw!r}") from None
        return raw

    def flag(self, name: str = "field") -> bool:
        """The next field as a bool (`1`/`0`, `true`/`false`, empty is False)."""
        raw = self.text(name).strip().lower()
        if raw in {"", "0", "false"}:
            return False
        if raw in {"1", "true"}:
            return True
        raise RequestError(f"{name} must be 1 or 0, got {raw!r}")

    def finish(self, what: str) -> None:
        """Raise `RequestError` if fields are left over: the layout was not understood."""
        if self.remaining:
            extra = list(self._fields[self._pos : self._pos + 5])
            raise RequestError(
                f"{what}: {self.remaining} unexpected trailing field(s) {extra!r} at field "
                f"{self._pos}; the client's layout differs from the emulator's"
            )


@attrs.frozen
class WireContract:
    """The 12-field contract block as the client sent it (strings as sent, numbers parsed)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    last_trade_date_or_contract_month: str = ""
    strike: Decimal | None = None
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""


def read_contract(cursor: FieldCursor) -> WireContract:
    """Read conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange,
    primaryExchange, currency, localSymbol, tradingClass."""
    return WireContract(
        con_id=cursor.integer("conId"),
        symbol=cursor.text("symbol"),
        sec_type=cursor.text("secType"),
        last_trade_date_or_contract_month=cursor.text("lastTradeDateOrContractMonth"),
        strike=cursor.decimal("strike"),
        right=cursor.text("right"),
        multiplier=cursor.text("multiplier"),
        exchange=cursor.text("exchange"),
        primary_exchange=cursor.text("primaryExchange"),
        currency=cursor.text("currency"),
        local_symbol=cursor.text("localSymbol"),
        trading_class=cursor.text("tradingClass"),
    )
