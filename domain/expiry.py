"""Options at expiry: what happens to a position still open when its contract expires.

The clearing house (OCC) exercises every long equity option that is in the money by at least a
threshold at expiry — IB's and the OCC's "exercise by exception" threshold is $0.01 — and
assigns short ones the same way; everything else lapses. `settle_option` decides which, from the
underlying's settlement price (its last price of the expiry session), and returns the event:

- `OptionExercised` — a long position in the money: the contracts are removed (closed at price 0;
  the premium paid is the realised loss on the option) and the stock is delivered at the strike
  (a call buys `contracts × multiplier` shares, a put sells them);
- `OptionAssigned` — a short position in the money: the same with the signs reversed;
- `OptionExpired` — out of the money (or less than the threshold in): the contracts are removed
  at price 0 and nothing is delivered.

`settlement_legs` turns any of them into the (instrument, signed quantity, price) moves the
portfolio and the simulator's ledger both book, so the two agree to the cent. Each event carries
a `settlement_id` that identifies it for idempotency (the portfolio applies an id once). Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.settlement import (
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OptionSettlement,
)
from ordergate.domain.values import ZERO

__all__ = [
    "DEFAULT_EXERCISE_THRESHOLD",
    "intrinsic_value",
    "settle_option",
    "settlement_id",
    "settlement_legs",
    "settlement_time",
]

DEFAULT_EXERCISE_THRESHOLD = Decimal("0.01")
"""IB's (and the OCC's) automatic-exercise threshold: in the money by $0.01 or more."""


def intrinsic_value(option: OptionContract, underlying_price: Decimal) -> Decimal:
    """How far in the money the option is per share (negative when out of the money)."""
    if option.right is OptionRight.CALL:
        return underlying_price - option.strike
    return option.strike - underlying_price


def settlement_time(option: OptionContract, calendar: TradingCalendar) -> datetime:
    """When the contract settles: the close of its expiry session (13:00 New York on an early
    close), or its last-trade time when that is earlier or the expiry date has no session."""
    last_trade = option.last_trade_at.astimezone(UTC)
    session = calendar.session(option.expiry)
    return last_trade if session is None else min(session.close, last_trade)


def settlement_id(account: str, option: OptionContract) -> str:
    """The id of an account's settlement of a contract (one per account and contract)."""
    return f"{account}:{option.symbol}:{option.expiry.isoformat()}"


def settle_option(
    *,
    settlement: str,
    option: OptionContract,
    quantity: Decimal,
    underlying_price: Decimal,
    ts: datetime,
    threshold: Decimal = DEFAULT_EXERCISE_THRESHOLD,
    underlying: Stock | None = None,
) -> OptionSettlement:
    """The event for a position of `quantity` contracts (signed) at expiry.

    Exercise (long) or assignment (short) when the option is at least `threshold` in the money at
    `underlying_price`; else the contracts expire. `underlying` is the stock delivered (default:
    `Stock(option.underlying)`).
    """
    if quantity == 0:
        raise InvalidValue("settle_option.quantity", quantity, "must be a non-zero position")
    if underlying_price <= 0:
        raise InvalidValue(
            "settle_option.underlying_price", underlying_price, "must be a positive price"
        )
    if threshold < 0:
        raise InvalidValue("settle_option.threshold", threshold, "must be non-negative")
    stock = underlying or Stock(option.underlying)
    if stock.symbol != option.underlying:
        raise InvalidValue(
            "settle_option.underlying", stock.symbol, f"must be {option.underlying}'s stock"
        )
    if intrinsic_value(option, underlying_price) < threshold:
        return OptionExpired(settlement, option, quantity, underlying_price, ts, ts)
    direction = Decimal(1) if option.right is OptionRight.CALL else Decimal(-1)
    shares = quantity * option.multiplier * direction
    kind = OptionExercised if quantity > 0 else OptionAssigned
    return kind(settlement, option, quantity, stock, shares, underlying_price, ts, ts)


def settlement_legs(event: OptionSettlement) -> tuple[tuple[Instrument, Decimal, Decimal], ...]:
    """The position moves of a settlement: (instrument, signed quantity, price), option first.

    The option leg closes the contracts at price 0; an exercise or assignment adds the stock leg
    at the strike. Cash moves by −Σ quantity × price × multiplier (zero for the option leg).
    """
    option_leg = (event.option, -event.quantity, ZERO)
    if isinstance(event, OptionExpired):
        return (option_leg,)
    return option_leg, (event.underlying, event.shares, event.option.strike)
