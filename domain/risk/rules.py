"""What a risk rule sees (`RiskContext`) and the helpers every rule shares.

A rule is a pure function `(request, ctx) -> Denial | None`. The context is frozen; values derived
from the portfolio (the exposure book, equity) are computed at most once per context and shared by
every rule, so a gate evaluation walks the portfolio's orders and positions once, not once per
rule. The context also notes the inputs the rules looked at, for the decision's audit record.
Nothing here mutates the portfolio.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Container, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.instruments import Instrument
from ordergate.domain.market import Quote
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk.decision import Denial, RiskCode, TradingState
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.values import ZERO, ClientOrderId, InstrumentId, Side, SignalId, utc_field

__all__ = [
    "ExposureBook",
    "InstrumentExposure",
    "RequestFacts",
    "RiskContext",
    "RuleFn",
    "deny",
    "fmt",
    "new_risk_rule",
]

DEFAULT_LIMITS = RiskLimits()
"""The limits a context uses when none are given (built once: limits are immutable)."""

RuleFn = Callable[[OrderRequest, "RiskContext"], Denial | None]
"""The shape of every rule: a request and its context in, a denial or None out."""


def fmt(value: Decimal) -> str:
    """A Decimal for a message: plain notation, at most 6 decimal places for computed ratios."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        value = value.quantize(Decimal("0.000001"))
    return f"{value:f}"


def deny(code: RiskCode, message: str, limit: object = "", value: object = "") -> Denial:
    """A `Denial` whose limit and value are rendered as strings (Decimals in plain notation)."""
    return Denial(code, message, _text(limit), _text(value))


def _text(value: object) -> str:
    return f"{value:f}" if isinstance(value, Decimal) else str(value)


@attrs.frozen
class InstrumentExposure:
    """One instrument's position and working orders, and the worst case if all of them filled."""

    instrument: Instrument
    quantity: Decimal
    working_buy: Decimal
    working_sell: Decimal
    price: Decimal | None

    @property
    def worst_long(self) -> Decimal:
        """The position if every working buy filled."""
        return self.quantity + self.working_buy

    @property
    def worst_short(self) -> Decimal:
        """The position if every working sell filled."""
        return self.quantity - self.working_sell

    @property
    def worst_abs(self) -> Decimal:
        """The largest absolute position the working orders could produce."""
        return max(abs(self.worst_long), abs(self.worst_short))

    @property
    def notional(self) -> Decimal:
        """`worst_abs` valued at `price` (zero when the instrument has no price at all)."""
        if self.price is None:
            return ZERO
        return self.worst_abs * self.price * self.instrument.multiplier

    def working_on(self, side: Side) -> Decimal:
        """Working quantity on `side`."""
        return self.working_buy if side is Side.BUY else self.working_sell


@attrs.frozen
class ExposureBook:
    """Every instrument with a position or a working order, from the portfolio's positions and
    its working-order totals.

    `gross_notional` is the worst-case gross exposure: Σ `worst_abs` × price × multiplier, with
    each instrument at its mark (else its average open price, else its highest working price).
    `reserved_cash` is what the working buys could consume, priced as
    `Portfolio.reserved_cash` prices them (limit, else stop, else mark); `market_value` is
    `Portfolio.market_value()`, summed in the same pass so equity costs no second walk.
    """

    instruments: dict[InstrumentId, InstrumentExposure]
    open_orders: int
    gross_notional: Decimal
    reserved_cash: Decimal
    market_value: Decimal

    @classmethod
    def of(cls, portfolio: Portfolio, exclude: ClientOrderId | None = None) -> ExposureBook:
        """Read the portfolio's working-order totals and walk its positions once.

        The working orders are not walked: `Portfolio.working` keeps their totals as they
        change, so this costs the same however many orders are working. `exclude` names a
        working order left out (one being modified: the gate judges it as it would stand).
        """
        working = portfolio.working
        book: dict[InstrumentId, InstrumentExposure] = {}
        gross = market_value = reserved = ZERO
        for iid, totals in working.instruments():
            reserved += totals.priced_buy_cash
            if totals.unpriced_buy:
                cash_px = portfolio.mark_of(iid)
                if cash_px is not None:
                    reserved += totals.unpriced_buy * cash_px * totals.instrument.multiplier
        for iid, position in portfolio.positions.items():
            orders = working.totals(iid)
            if position.quantity == 0 and orders is None:
                continue
            mark = portfolio.mark_of(iid)
            if mark is not None:
                market_value += position.market_value(mark)
            if orders is None:
                exposure = InstrumentExposure(position.instrument, position.quantity, ZERO, ZERO,
                                              mark)
            else:
                price = mark or orders.top_price()
                exposure = InstrumentExposure(
                    orders.instrument, position.quantity, orders.buy, orders.sell, price
                )
            book[iid] = exposure
            gross += exposure.notional
        for iid, totals in working.instruments():
            if iid in book:
                continue
            mark = portfolio.marks.get(iid)
            price = mark if mark is not None else totals.top_price()
            exposure = InstrumentExposure(totals.instrument, ZERO, totals.buy, totals.sell, price)
            book[iid] = exposure
            gross += exposure.notional
        open_orders = working.open_orders
        left_out = None if exclude is None else portfolio.orders.get(exclude)
        if left_out is not None and left_out.working_qty > 0:
            request = left_out.request
            iid = request.instrument.id
            held = book[iid]
            leaves = left_out.working_qty
            buy, sell = held.working_buy, held.working_sell
            if request.side is Side.BUY:
                buy -= leaves
                px = left_out.limit_price or left_out.stop_price or portfolio.mark_of(iid)
                if px is not None:
                    reserved -= leaves * px * request.instrument.multiplier
            else:
                sell -= leaves
            without = InstrumentExposure(held.instrument, held.quantity, buy, sell, held.price)
            book[iid] = without
            gross += without.notional - held.notional
            open_orders -= 1
        return cls(book, open_orders, gross, reserved, market_value)


@attrs.frozen
class RequestFacts:
    """What every rule wants to know about the request, computed once per request and context."""

    instrument_id: InstrumentId
    exposure: InstrumentExposure
    closable: Decimal
    reducing: bool
    quote_price: Decimal | None
    order_price: Decimal | None
    worst_long_after: Decimal  # the worst cases with the request working as well
    worst_short_after: Decimal

    @property
    def adds_exposure(self) -> bool:
        """True when the request raises the instrument's worst-case absolute position."""
        after = max(abs(self.worst_long_after), abs(self.worst_short_after))
        return after > self.exposure.worst_abs


def _names(value: Iterable[str]) -> frozenset[str]:
    """Typed converter: any iterable of breaker names becomes a frozenset (mypy-friendly)."""
    return frozenset(value)


@attrs.frozen(kw_only=True, eq=False)
class RiskContext:
    """Everything the rules may look at for one request, besides the request itself.

    `quote` is the latest quote of the request's instrument (None when there is none);
    `open_breakers` names the circuit breakers not CLOSED; `seen_*` are the ids of earlier
    requests (any container: a set the application keeps is not copied); `recent_submits` are the
    times of earlier submissions in ascending order (only the last window matters); `calendar`
    is the exchange's trading calendar (business days for the pattern-day-trader window);
    `excluded_order` is a working order the book leaves out (the one a modification replaces).
    A context is meant for one evaluation: derived values are computed on first use and kept.
    """

    portfolio: Portfolio
    now: datetime = utc_field()
    limits: RiskLimits = DEFAULT_LIMITS
    quote: Quote | None = None
    trading_state: TradingState = TradingState.ACTIVE
    open_breakers: frozenset[str] = attrs.field(factory=frozenset, converter=_names)
    seen_client_order_ids: Container[ClientOrderId] = frozenset()
    seen_signal_ids: Container[SignalId] = frozenset()
    recent_submits: Sequence[datetime] = ()
    calendar: TradingCalendar | None = None
    excluded_order: ClientOrderId | None = None
    _inputs: dict[str, object] = attrs.field(factory=dict, init=False, repr=False)
    # (request, facts) of the last request asked about; compared by identity, which is cheap,
    # where hashing a request would not be.
    _facts: list[Any] = attrs.field(factory=lambda: [None, None], init=False, repr=False)

    @functools.cached_property
    def _book(self) -> ExposureBook:
        return ExposureBook.of(self.portfolio, self.excluded_order)

    @property
    def book(self) -> ExposureBook:
        """The exposure book of the portfolio (computed once per context)."""
        book = self._book
        self.note("open_orders", book.open_orders)
        self.note("gross_worst_case", book.gross_notional)
        return book

    @property
    def equity(self) -> Decimal:
        """Portfolio equity, cash plus marked positions (`Portfolio.equity()`, computed once)."""
        book = self._book
        equity = self.portfolio.cash + book.market_value
        self.note("equity", equity)
        return equity

    def begin(self) -> None:
        """Start a new evaluation: the inputs noted for an earlier request are forgotten.

        Derived values stay cached, so a context may judge several requests against the same
        portfolio state (e.g. the legs of a bracket, none of which sees the others).
        """
        self._inputs.clear()
        self._facts[0] = self._facts[1] = None

    def facts(self, request: OrderRequest) -> RequestFacts:
        """The request's exposure, closable quantity, reducing flag and prices (memoised)."""
        if self._facts[0] is request:
            facts: RequestFacts = self._facts[1]
            return facts
        facts = self._derive(request)
        self._facts[0], self._facts[1] = request, facts
        return facts

    def _derive(self, request: OrderRequest) -> RequestFacts:
        instrument = request.instrument
        iid = instrument.id
        exposure = self._book.instruments.get(iid)
        if exposure is None:
            exposure = InstrumentExposure(instrument, ZERO, ZERO, ZERO, self.portfolio.mark_of(iid))
        qty = exposure.quantity
        if qty == 0 or (qty > 0) == (request.side is Side.BUY):
            closable = ZERO
        else:
            closable = max(ZERO, abs(qty) - exposure.working_on(request.side))
        quote = self.quote
        quote_price = None
        if quote is not None and quote.instrument_id == iid:
            quote_price = quote.reference_price
        order_price: Decimal | None = None
        for px in (request.limit_price, request.stop_price, quote_price, exposure.price):
            if px is not None and (order_price is None or px > order_price):
                order_price = px
        self.note("position", qty)
        self.note("working_buy", exposure.working_buy)
        self.note("working_sell", exposure.working_sell)
        if order_price is not None:
            self.note("order_price", order_price)
        long_after, short_after = exposure.worst_long, exposure.worst_short
        if request.side is Side.BUY:
            long_after += request.quantity
        else:
            short_after -= request.quantity
        return RequestFacts(
            iid,
            exposure,
            closable,
            request.quantity <= closable,
            quote_price,
            order_price,
            long_after,
            short_after,
        )

    def instrument_id(self, request: OrderRequest) -> InstrumentId:
        """The request's instrument id (built once: `Instrument.id` makes a new value per call)."""
        return self.facts(request).instrument_id

    def exposure(self, request: OrderRequest) -> InstrumentExposure:
        """The request's instrument in the book (a flat, order-less entry when it is not there)."""
        return self.facts(request).exposure

    def quote_price(self, request: OrderRequest) -> Decimal | None:
        """The quote's reference price, if the quote is for the request's instrument."""
        return self.facts(request).quote_price

    def order_price(self, request: OrderRequest) -> Decimal | None:
        """The price notional checks use: the highest of limit, stop, quote and mark (cautious)."""
        return self.facts(request).order_price

    def closable(self, request: OrderRequest) -> Decimal:
        """How much of the position an order on the request's side can close without flipping.

        The open position net of the working orders on the same side (they close it too);
        zero when the request is on the position's side or the position is flat.
        """
        return self.facts(request).closable

    def is_reducing(self, request: OrderRequest) -> bool:
        """True when the request can only reduce the position: opposite side, within `closable`."""
        return self.facts(request).reducing

    def note(self, name: str, value: object) -> None:
        """Record an input a rule looked at (first value wins)."""
        if name not in self._inputs:
            self._inputs[name] = value

    @property
    def inputs(self) -> tuple[tuple[str, str], ...]:
        """The inputs noted so far, as strings, in the order they were first looked at."""
        return tuple((name, _text(value)) for name, value in self._inputs.items())


def new_risk_rule(check: RuleFn) -> RuleFn:
    """Mark a rule as one that limits new risk: closures and flattens always pass it.

    `OrderIntent.CLOSE`/`FLATTEN` requests are answered None without calling `check`; whether
    they over-close is decided by the over-close rule, which is not wrapped.
    """

    @functools.wraps(check)
    def rule(request: OrderRequest, ctx: RiskContext) -> Denial | None:
        if request.is_risk_reducing_intent:
            return None
        return check(request, ctx)

    return rule
