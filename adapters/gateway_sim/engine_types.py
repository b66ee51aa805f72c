"""Typed values the gateway emulator and its engine exchange: contracts, orders, fills, accounts.

Plain frozen attrs classes with Decimal prices and quantities and aware UTC datetimes. They carry
no IB wire strings, tick types or message ids (`translate.py` maps those), and this module must
never import the server, a socket library or `ib_async`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta
from decimal import Decimal

import attrs

from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.values import (
    ZERO,
    Side,
    decimal_field,
    opt_decimal_field,
    utc_field,
)

__all__ = [
    "AccountSnapshot",
    "BarRequest",
    "BarSource",
    "ContractQuery",
    "ContractSpec",
    "ExecutionReport",
    "MarginImpact",
    "MarketSnapshot",
    "OrderKey",
    "OrderSpec",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PnLSingleView",
    "PnLView",
    "PositionView",
    "SecType",
    "TimeInForce",
]


class SecType(enum.Enum):
    """The security types the emulator trades."""

    STOCK = "stock"
    OPTION = "option"


@attrs.frozen
class ContractSpec:
    """A fully described, tradable contract: the engine's identifier plus the domain instrument."""

    con_id: int = attrs.field(validator=attrs.validators.gt(0))
    instrument: Instrument
    long_name: str = ""
    under_con_id: int = 0
    """For options, the underlying's `con_id`; 0 for stocks."""

    @property
    def sec_type(self) -> SecType:
        """STOCK or OPTION, from the instrument."""
        return SecType.OPTION if isinstance(self.instrument, OptionContract) else SecType.STOCK

    @property
    def symbol(self) -> str:
        """The stock symbol, or an option's underlying symbol."""
        inst = self.instrument
        return inst.underlying if isinstance(inst, OptionContract) else inst.symbol

    @property
    def local_symbol(self) -> str:
        """The symbol on the exchange: the ticker for stocks, the OCC symbol for options."""
        return self.instrument.symbol

    @property
    def multiplier(self) -> Decimal:
        """Contract multiplier (1 for stocks, 100 for standard options)."""
        return self.instrument.multiplier


@attrs.frozen
class ContractQuery:
    """What a client asked for; unset fields (0, "", None) match anything."""

    con_id: int = 0
    symbol: str = ""
    sec_type: SecType | None = None
    expiry: date | None = None
    contract_month: str = ""
    """`YYYYMM` when the client gave a month rather than a last trading day."""
    strike: Decimal | None = None
    right: OptionRight | None = None
    multiplier: Decimal | None = None
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""

    def matches(self, spec: ContractSpec) -> bool:
        """True when every field the query sets agrees with `spec` (exchange SMART matches all)."""
        inst = spec.instrument
        if self.con_id:
            return self.con_id == spec.con_id
        checks = [
            not self.symbol or self.symbol.upper() == spec.symbol,
            self.sec_type is None or self.sec_type is spec.sec_type,
            not self.currency or self.currency.upper() == inst.currency,
            not self.local_symbol or _squash(self.local_symbol) == _squash(spec.local_symbol),
            self.exchange in {"", "SMART"} or self.exchange == inst.exchange,
        ]
        if isinstance(inst, Stock):
            checks.append(
                not self.primary_exchange
                or not inst.primary_exchange
                or self.primary_exchange == inst.primary_exchange
            )
        if isinstance(inst, OptionContract):
            checks += [
                self.expiry is None or self.expiry == inst.expiry,
                not self.contract_month or inst.expiry.strftime("%Y%m") == self.contract_month,
                self.strike is None or self.strike == inst.strike,
                self.right is None or self.right is inst.right,
                self.multiplier is None or self.multiplier == inst.multiplier,
                not self.trading_class or self.trading_class == inst.underlying,
            ]
        return all(checks)


def _squash(symbol: str) -> str:
    return symbol.replace(" ", "").upper()


@attrs.frozen(order=True)
class OrderKey:
    """An order's identity at the gateway: the API client that placed it and its order id."""

    client_id: int
    order_id: int


class OrderType(enum.Enum):
    """Order types of SPEC 4.3."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"
    TRAILING_STOP_LIMIT = "trailing_stop_limit"


class TimeInForce(enum.Enum):
    """How long an order works."""

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    GTD = "gtd"


@attrs.frozen
class OrderSpec:
    """An order as the client sent it, typed. Prices are per unit (per share, per option)."""

    side: Side
    quantity: Decimal = decimal_field(positive=True)
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = opt_decimal_field()
    stop_price: Decimal | None = opt_decimal_field()
    """Trigger price of STOP and STOP_LIMIT orders."""
    trailing_amount: Decimal | None = opt_decimal_field(positive=True)
    trailing_percent: Decimal | None = opt_decimal_field(positive=True)
    trail_stop_price: Decimal | None = opt_decimal_field()
    """Initial stop of a trailing order, if the client set one."""
    limit_price_offset: Decimal | None = opt_decimal_field()
    """TRAILING_STOP_LIMIT: the limit sits this far beyond the moving stop."""
    tif: TimeInForce = TimeInForce.DAY
    good_till: datetime | None = None
    oca_group: str = ""
    oca_type: int = 0
    order_ref: str = ""
    account: str = ""
    outside_rth: bool = False
    parent_id: int = 0
    """The parent's order id (same client) for bracket children; 0 for none."""
    transmit: bool = True
    """False holds the order (and its group) at the gateway until a later order transmits."""


class OrderStatus(enum.Enum):
    """Where an order stands. HELD: accepted, not working (untransmitted, awaiting its parent)."""

    HELD = "held"
    WORKING = "working"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    FILLED = "filled"
    INACTIVE = "inactive"

    @property
    def is_done(self) -> bool:
        """True for the terminal statuses: cancelled, filled, inactive."""
        return self in _DONE


_DONE = frozenset({OrderStatus.CANCELLED, OrderStatus.FILLED, OrderStatus.INACTIVE})


@attrs.frozen
class OrderView:
    """An order's current state as the engine knows it."""

    key: OrderKey
    perm_id: int
    contract: ContractSpec
    spec: OrderSpec
    status: OrderStatus
    filled: Decimal = decimal_field(non_negative=True)
    remaining: Decimal = decimal_field(non_negative=True)
    avg_fill_price: Decimal = decimal_field(non_negative=True, default=ZERO)
    last_fill_price: Decimal = decimal_field(non_negative=True, default=ZERO)
    account: str = ""
    updated_at: datetime | None = None
    reason: str = ""
    """Why the order was cancelled or made inactive, when it was."""
    trail_stop_price: Decimal | None = None
    """A trailing order's stop in force now (it ratchets with the market); None otherwise or
    before the engine has priced it."""


@attrs.frozen
class ExecutionReport:
    """One execution (fill) with its commission. `cum_qty`/`avg_price` cover the whole order."""

    exec_id: str
    key: OrderKey
    perm_id: int
    contract: ContractSpec
    account: str
    side: Side
    quantity: Decimal = decimal_field(positive=True)
    price: Decimal = decimal_field(non_negative=True)  # 0: an option leg of an exercise
    time: datetime = utc_field()
    cum_qty: Decimal = decimal_field(positive=True)
    avg_price: Decimal = decimal_field(non_negative=True)
    commission: Decimal = decimal_field(non_negative=True)
    commission_currency: str = "USD"
    realized_pnl: Decimal | None = opt_decimal_field()
    """PnL this execution realised (closing part only), None when it opened or added."""
    order_ref: str = ""
    exchange: str = "SIM"
    added_liquidity: bool = False


@attrs.frozen
class PositionView:
    """A position in one contract. `avg_price` is per unit; IB's avgCost multiplies it out."""

    account: str
    contract: ContractSpec
    quantity: Decimal = decimal_field()
    avg_price: Decimal = decimal_field(non_negative=True)
    market_price: Decimal | None = opt_decimal_field(non_negative=True)
    realized_pnl: Decimal = decimal_field(default=ZERO)

    @property
    def avg_cost(self) -> Decimal:
        """Average cost per contract, multiplier included (what IB calls avgCost)."""
        return self.avg_price * self.contract.multiplier

    @property
    def market_value(self) -> Decimal:
        """Quantity × mark × multiplier (the average price when there is no mark)."""
        mark = self.avg_price if self.market_price is None else self.market_price
        return self.quantity * mark * self.contract.multiplier

    @property
    def unrealized_pnl(self) -> Decimal:
        """Market value minus cost."""
        return self.market_value - self.quantity * self.avg_cost


@attrs.frozen
class AccountSnapshot:
    """Account values in the account's base currency."""

    account: str
    currency: str
    net_liquidation: Decimal = decimal_field()
    total_cash: Decimal = decimal_field()
    gross_position_value: Decimal = decimal_field(non_negative=True)
    buying_power: Decimal = decimal_field()
    available_funds: Decimal = decimal_field()
    excess_liquidity: Decimal = decimal_field()
    init_margin: Decimal = decimal_field(non_negative=True)
    maint_margin: Decimal = decimal_field(non_negative=True)
    realized_pnl: Decimal = decimal_field()
    unrealized_pnl: Decimal = decimal_field()

    @property
    def equity_with_loan(self) -> Decimal:
        """Equity with loan value; equal to net liquidation in this cash-and-margin model."""
        return self.net_liquidation


@attrs.frozen
class PnLView:
    """Account PnL: today's, open positions' unrealised, and realised."""

    daily: Decimal = decimal_field()
    unrealized: Decimal = decimal_field()
    realized: Decimal = decimal_field()


@attrs.frozen
class PnLSingleView:
    """PnL of one position."""

    position: Decimal = decimal_field()
    daily: Decimal = decimal_field()
    unrealized: Decimal = decimal_field()
    realized: Decimal = decimal_field()
    value: Decimal = decimal_field()


@attrs.frozen
class MarginImpact:
    """What-if answer: margin and equity before, change and after, plus the commission."""

    init_margin_before: Decimal = decimal_field()
    maint_margin_before: Decimal = decimal_field()
    equity_with_loan_before: Decimal = decimal_field()
    init_margin_change: Decimal = decimal_field()
    maint_margin_change: Decimal = decimal_field()
    equity_with_loan_change: Decimal = decimal_field()
    commission: Decimal = decimal_field(non_negative=True)
    currency: str = "USD"


@attrs.frozen
class MarketSnapshot:
    """A quote with sizes. Any side may be missing (None)."""

    ts: datetime = utc_field()
    bid: Decimal | None = opt_decimal_field(positive=True)
    ask: Decimal | None = opt_decimal_field(positive=True)
    last: Decimal | None = opt_decimal_field(positive=True)
    bid_size: Decimal = decimal_field(non_negative=True, default=ZERO)
    ask_size: Decimal = decimal_field(non_negative=True, default=ZERO)
    last_size: Decimal = decimal_field(non_negative=True, default=ZERO)
    volume: Decimal | None = opt_decimal_field(non_negative=True)
    close: Decimal | None = opt_decimal_field(positive=True)
    """The previous session's close."""


class BarSource(enum.Enum):
    """Which price a bar summarises."""

    TRADES = "trades"
    MIDPOINT = "midpoint"
    BID = "bid"
    ASK = "ask"


@attrs.frozen
class BarRequest:
    """Bars of `bar_size` covering `duration` up to `end` (exclusive of bars starting at `end`)."""

    con_id: int
    end: datetime = utc_field()
    duration: timedelta = timedelta(days=1)
    bar_size: timedelta = timedelta(minutes=1)
    source: BarSource = BarSource.TRADES
    regular_hours_only: bool = True
