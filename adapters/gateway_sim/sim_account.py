"""Account values of a `SimGatewayEngine`, read from the simulator's own ledger and fill model.

Positions, cash, net liquidation, available funds and buying power are the matching engine's
(`MatchingEngine.account_summary`, positions marked at last trades). The simulator has one margin
level — `(gross position value + funds reserved by working orders) / leverage` — so initial and
maintenance margin are both that. Daily PnL is measured from the marks taken when the current
replayed day began (`DayStart`). A what-if prices the order at its limit, else its stop, else the
last trade, and charges the commission the fill model would. Reads only; never `ib_async`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

import attrs

from ordergate.adapters.gateway_sim.engine import EngineRefusal, RefusalReason
from ordergate.adapters.gateway_sim.engine_types import (
    AccountSnapshot,
    ContractSpec,
    MarginImpact,
    PnLSingleView,
    PnLView,
    PositionView,
)
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.portfolio.position import Position
from ordergate.domain.values import ZERO, InstrumentId

__all__ = [
    "DayStart",
    "account_snapshot",
    "day_start",
    "pnl",
    "pnl_single",
    "positions",
    "what_if",
]

SpecFor = Callable[[Instrument], ContractSpec]


@attrs.frozen
class DayStart:
    """Net liquidation and each position's PnL (realised + unrealised) when a day began."""

    net_liquidation: Decimal
    position_pnl: Mapping[InstrumentId, Decimal]


def _mark(engine: MatchingEngine, position: Position) -> Decimal:
    traded = engine.last_price(position.instrument_id)
    if traded is not None:
        return traded[0]
    return position.avg_open_price or ZERO


def _pnl_of(engine: MatchingEngine, position: Position) -> Decimal:
    return position.realized_pnl + position.unrealized_pnl(_mark(engine, position))


def day_start(engine: MatchingEngine) -> DayStart:
    """The marks daily PnL is measured from, taken now."""
    return DayStart(
        engine.account_summary().net_liquidation,
        {iid: _pnl_of(engine, p) for iid, p in engine.ledger.positions.items()},
    )


def positions(engine: MatchingEngine, spec_for: SpecFor) -> list[PositionView]:
    """Every non-zero position, marked at its last trade."""
    account = engine.ledger.account_id
    views = []
    for position in engine.ledger.positions.values():
        if position.quantity == 0:
            continue
        traded = engine.last_price(position.instrument_id)
        views.append(
            PositionView(
                account=account,
                contract=spec_for(position.instrument),
                quantity=position.quantity,
                avg_price=abs(position.avg_open_price or ZERO),
                market_price=None if traded is None else traded[0],
                realized_pnl=position.realized_pnl,
            )
        )
    return views


def account_snapshot(engine: MatchingEngine) -> AccountSnapshot:
    """The account's values now (see the module docstring for the margin model)."""
    summary = engine.account_summary()
    gross = sum(
        (p.notional(_mark(engine, p)) for p in engine.ledger.positions.values()), ZERO
    )
    margin = max(summary.net_liquidation - summary.available_funds, ZERO)
    return AccountSnapshot(
        account=summary.account_id,
        currency=summary.currency,
        net_liquidation=summary.net_liquidation,
        total_cash=summary.cash,
        gross_position_value=gross,
        buying_power=summary.buying_power,
        available_funds=summary.available_funds,
        excess_liquidity=summary.net_liquidation - margin,
        init_margin=margin,
        maint_margin=margin,
        realized_pnl=summary.realized_pnl,
        unrealized_pnl=summary.unrealized_pnl,
    )


def pnl(engine: MatchingEngine, start: DayStart) -> PnLView:
    """Account PnL: since the day began, unrealised, realised."""
    summary = engine.account_summary()
    return PnLView(
        daily=summary.net_liquidation - start.net_liquidation,
        unrealized=summary.unrealized_pnl,
        realized=summary.realized_pnl,
    )


def pnl_single(engine: MatchingEngine, instrument: Instrument, start: DayStart) -> PnLSingleView:
    """PnL of the position in `instrument` (zeros when it was never held)."""
    position = engine.ledger.positions.get(instrument.id)
    if position is None:
        return PnLSingleView(position=ZERO, daily=ZERO, unrealized=ZERO, realized=ZERO, value=ZERO)
    mark = _mark(engine, position)
    return PnLSingleView(
        position=position.quantity,
        daily=_pnl_of(engine, position) - start.position_pnl.get(instrument.id, ZERO),
        unrealized=position.unrealized_pnl(mark),
        realized=position.realized_pnl,
        value=position.market_value(mark),
    )


def what_if(engine: MatchingEngine, request: OrderRequest) -> MarginImpact:
    """Margin and commission impact of `request` if it filled whole at its reference price;
    `EngineRefusal` (NO_MARKET_DATA) when there is no price to value it at."""
    instrument = request.instrument
    price = request.limit_price or request.stop_price
    if price is None:
        traded = engine.last_price(instrument.id)
        price = None if traded is None else traded[0]
    if price is None:
        raise EngineRefusal(
            RefusalReason.NO_MARKET_DATA,
            f"{instrument.id} has not traded in the simulation and the order names no price",
        )
    before = account_snapshot(engine)
    held = engine.ledger.position_units(instrument.id)
    after = held + request.signed_quantity
    leverage = engine.ledger.leverage
    margin_change = (abs(after) - abs(held)) * price * instrument.multiplier / leverage
    model = engine.fill_model
    schedule = model.option_commission if instrument.is_option else model.stock_commission
    value = request.quantity * price * instrument.multiplier
    month = engine.ledger.month_volume(engine.now)
    commission = schedule.order_total(request.quantity, value, month)
    return MarginImpact(
        init_margin_before=before.init_margin,
        maint_margin_before=before.maint_margin,
        equity_with_loan_before=before.equity_with_loan,
        init_margin_change=margin_change,
        maint_margin_change=margin_change,
        equity_with_loan_change=-commission,
        commission=commission,
        currency=before.currency,
    )
