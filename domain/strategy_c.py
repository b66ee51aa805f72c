"""Strategy C: which positions must close, and the closing orders that never over-close.

`review_positions` flags open positions: `3_DTE_RULE` (an option within `dte_threshold` exchange
calendar days of expiry), `EMERGENCY_STOP` (unrealized loss ≥ `emergency_loss_pct` of cost basis;
it outranks every other reason), `DATA_QUARANTINE` (any position's data is older than
`stale_after_seconds`, or missing: every position is flagged), `DAILY_LOSS_LIMIT` and
`DRAWDOWN_GOVERNOR` (the breaker is open or the configured limit is reached: every position is
flagged). `closure_requests` turns flags into CLOSE orders for the open quantity net of the
closing orders already working. Pure: the time, prices and ids come in as arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import OptionContract
from ordergate.domain.market import Quote
from ordergate.domain.orders.enums import OrderIntent, OrderType
from ordergate.domain.orders.request import ClosureReason, OrderRequest
from ordergate.domain.portfolio import Portfolio, Position
from ordergate.domain.risk.breakers import BreakerKind
from ordergate.domain.values import (
    ZERO,
    ClientOrderId,
    CorrelationId,
    InstrumentId,
    Side,
    check_utc,
    opt_decimal_field,
)

__all__ = [
    "ClosureFlag",
    "ClosureIdFactory",
    "StrategyCConfig",
    "StrategyCReview",
    "closing_quantity",
    "closure_id_factory",
    "closure_requests",
    "review_positions",
]

ClosureIdFactory = Callable[[InstrumentId, ClosureReason], ClientOrderId]
"""Makes the client order id of a closure from the instrument and reason (deterministically)."""

# Highest priority first: the reason a flag reports when several apply.
PRIORITY: tuple[ClosureReason, ...] = (
    ClosureReason.EMERGENCY_STOP,
    ClosureReason.DAILY_LOSS_LIMIT,
    ClosureReason.DRAWDOWN_GOVERNOR,
    ClosureReason.DATA_QUARANTINE,
    ClosureReason.THREE_DTE,
)
_RANK = {reason: rank for rank, reason in enumerate(PRIORITY)}

DAILY_LOSS_BREAKER: str = BreakerKind.DAILY_LOSS.value
DRAWDOWN_BREAKER: str = BreakerKind.DRAWDOWN.value


def _count(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = f"{type(inst).__name__}.{attribute.name}"
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidValue(name, value, "must be an int >= 0")


def _fraction(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = f"{type(inst).__name__}.{attribute.name}"
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= 1:
        raise InvalidValue(name, value, "must be a Decimal in (0, 1]")


@attrs.frozen
class StrategyCConfig:
    """Strategy C thresholds. `daily_loss_limit`/`max_drawdown` (fractions) are optional: when
    set, the review checks them itself; otherwise it relies on the open breakers passed in."""

    dte_threshold: int = attrs.field(default=3, validator=_count)
    emergency_loss_pct: Decimal = attrs.field(default=Decimal("0.40"), validator=_fraction)
    stale_after_seconds: int = attrs.field(default=300, validator=_count)
    daily_loss_limit: Decimal | None = opt_decimal_field(non_negative=True)
    max_drawdown: Decimal | None = opt_decimal_field(non_negative=True)


@attrs.frozen
class ClosureFlag:
    """A position that must close: the deciding `reason`, every reason that applied, and why."""

    instrument_id: InstrumentId
    quantity: Decimal
    reason: ClosureReason
    reasons: tuple[ClosureReason, ...]
    detail: str


@attrs.frozen
class StrategyCReview:
    """The flags of one review; `quarantined` lists instruments whose data was stale or missing
    (non-empty means the staleness breaker should trip)."""

    flags: tuple[ClosureFlag, ...]
    quarantined: tuple[InstrumentId, ...] = ()

    @property
    def data_quarantine(self) -> bool:
        """True when stale data put every position in quarantine."""
        return bool(self.quarantined)

    def flag_for(self, instrument_id: InstrumentId) -> ClosureFlag | None:
        """The flag of one instrument, if it has one."""
        return next((f for f in self.flags if f.instrument_id == instrument_id), None)


def _price_and_time(
    portfolio: Portfolio, iid: InstrumentId, quotes: Mapping[InstrumentId, Quote]
) -> tuple[Decimal | None, datetime | None]:
    quote = quotes.get(iid)
    if quote is not None and quote.reference_price is not None:
        return quote.reference_price, quote.ts
    return portfolio.marks.get(iid), portfolio.mark_times.get(iid)


def _account_reasons(
    portfolio: Portfolio, config: StrategyCConfig, open_breakers: Container[str]
) -> list[tuple[ClosureReason, str]]:
    reasons: list[tuple[ClosureReason, str]] = []
    start = portfolio.session_start_equity
    loss = start - portfolio.equity()
    limit = config.daily_loss_limit
    if DAILY_LOSS_BREAKER in open_breakers:
        reasons.append((ClosureReason.DAILY_LOSS_LIMIT, "daily loss breaker open"))
    elif limit is not None and loss > 0 and loss >= limit * start:
        reasons.append(
            (ClosureReason.DAILY_LOSS_LIMIT, f"session loss {loss} ≥ {limit} of {start}")
        )
    drawdown_limit = config.max_drawdown
    if DRAWDOWN_BREAKER in open_breakers:
        reasons.append((ClosureReason.DRAWDOWN_GOVERNOR, "drawdown breaker open"))
    elif drawdown_limit is not None:
        drawdown = portfolio.drawdown_from_week_high()
        if drawdown > 0 and drawdown >= drawdown_limit:
            reasons.append(
                (ClosureReason.DRAWDOWN_GOVERNOR, f"drawdown {drawdown:.4f} ≥ {drawdown_limit}")
            )
    return reasons


def _own_reasons(
    position: Position,
    price: Decimal | None,
    now: datetime,
    config: StrategyCConfig,
    calendar: TradingCalendar | None,
) -> list[tuple[ClosureReason, str]]:
    reasons: list[tuple[ClosureReason, str]] = []
    if price is not None:
        pct = position.unrealized_pct(price)
        if pct <= -config.emergency_loss_pct:
            reasons.append(
                (
                    ClosureReason.EMERGENCY_STOP,
                    f"unrealized {pct:.4f} of cost basis ≤ -{config.emergency_loss_pct}",
                )
            )
    dte = position.days_to_expiry(now)
    if dte is not None and dte <= config.dte_threshold:
        sessions = ""
        instrument = position.instrument
        if calendar is not None and isinstance(instrument, OptionContract):
            left = calendar.sessions_between(calendar.local_date(now), instrument.expiry)
            sessions = f" ({left} trading session{'' if left == 1 else 's'} of {calendar.name})"
        reasons.append(
            (ClosureReason.THREE_DTE, f"{dte} days to expiry{sessions} ≤ {config.dte_threshold}")
        )
    return reasons


def review_positions(
    portfolio: Portfolio,
    now: datetime,
    config: StrategyCConfig | None = None,
    *,
    quotes: Mapping[InstrumentId, Quote] | None = None,
    open_breakers: Container[str] = frozenset(),
    calendar: TradingCalendar | None = None,
) -> StrategyCReview:
    """Flag every open position that Strategy C closes, with the highest-priority reason.

    Prices and their times come from `quotes` when given (a quote without a price is ignored),
    else from the portfolio's marks. A position without timestamped data counts as stale.
    With a `calendar`, a days-to-expiry flag also says how many trading sessions are left
    (the rule itself counts exchange calendar days).
    """
    check_utc("now", now)
    config = config or StrategyCConfig()
    quotes = quotes or {}
    positions = list(portfolio.open_positions())
    data: dict[InstrumentId, Decimal | None] = {}
    quarantined: list[InstrumentId] = []
    for position in positions:
        iid = position.instrument_id
        price, ts = _price_and_time(portfolio, iid, quotes)
        data[iid] = price
        if ts is None or (now - ts).total_seconds() > config.stale_after_seconds:
            quarantined.append(iid)
    shared = _account_reasons(portfolio, config, open_breakers)
    if quarantined:
        names = ", ".join(str(i) for i in quarantined)
        shared.append((ClosureReason.DATA_QUARANTINE, f"stale or missing data for {names}"))
    flags: list[ClosureFlag] = []
    for position in positions:
        iid = position.instrument_id
        found = sorted(
            _own_reasons(position, data[iid], now, config, calendar) + shared,
            key=lambda r: _RANK[r[0]],
        )
        if found:
            flags.append(
                ClosureFlag(
                    iid,
                    position.quantity,
                    found[0][0],
                    tuple(r for r, _ in found),
                    "; ".join(d for _, d in found),
                )
            )
    return StrategyCReview(tuple(flags), tuple(quarantined))


def closing_quantity(portfolio: Portfolio, instrument_id: InstrumentId) -> Decimal:
    """The open position net of the working orders that already close it (never negative)."""
    qty = portfolio.position_qty(instrument_id)
    if qty == 0:
        return ZERO
    closing_side = Side.SELL if qty > 0 else Side.BUY
    return max(ZERO, abs(qty) - portfolio.working_qty(instrument_id, closing_side))


def closure_id_factory(
    prefix: str, now: datetime, taken: Container[ClientOrderId] = frozenset()
) -> ClosureIdFactory:
    """Ids like `SC-EMERGENCY_STOP-AAPL-20240108T150000000000`, deterministic in the inputs.

    An id already in `taken` (pass the ids the duplicate guard has seen) gets the first free
    suffix `-2`, `-3`, …, so a second closure of the same instrument at the same instant is not
    mistaken for a duplicate. Re-running a review cannot double a closure either way: the
    closing quantity is net of the closures already working.
    """
    stamp = check_utc("now", now).strftime("%Y%m%dT%H%M%S%f")

    def make(instrument_id: InstrumentId, reason: ClosureReason) -> ClientOrderId:
        symbol = str(instrument_id).replace(" ", "")
        base = f"{prefix}-{reason.value}-{symbol}-{stamp}"
        candidate = ClientOrderId(base)
        n = 1
        while candidate in taken:
            n += 1
            candidate = ClientOrderId(f"{base}-{n}")
        return candidate

    return make


def closure_requests(
    flags: Iterable[ClosureFlag],
    portfolio: Portfolio,
    *,
    id_factory: ClosureIdFactory,
    operator_id: str = "",
    correlation_id: CorrelationId | None = None,
) -> tuple[OrderRequest, ...]:
    """Market CLOSE orders for the flagged positions, each for `closing_quantity` (rounded down
    to the size increment); a position already covered by working closes gets no order."""
    requests: list[OrderRequest] = []
    for flag in flags:
        position = portfolio.position(flag.instrument_id)
        if position is None or position.is_flat:
            continue
        increment = position.instrument.size_increment
        quantity = closing_quantity(portfolio, flag.instrument_id) // increment * increment
        if quantity <= 0:
            continue
        requests.append(
            OrderRequest(
                id_factory(flag.instrument_id, flag.reason),
                position.instrument,
                Side.SELL if position.quantity > 0 else Side.BUY,
                quantity,
                OrderType.MARKET,
                intent=OrderIntent.CLOSE,
                closure_reason=flag.reason,
                correlation_id=correlation_id,
                operator_id=operator_id,
            )
        )
    return tuple(requests)
