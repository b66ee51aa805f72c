"""Encoders of the order and execution messages: orderStatus, openOrder, completedOrder,
execDetails, commissionReport and their End messages.

openOrder and completedOrder mirror the client decoder's unpacking one value per name, in order:
`0` for the count and flag fields it passes to `int()` (legs, order legs, routing params,
delta-neutral present, conditions), `""` for what the emulator does not model. Layouts follow the
negotiated server version (faProfile before 177, pendingPriceRevision from 178). Must never import
`ib_async`.
"""

from __future__ import annotations

from decimal import Decimal

from ordergate.adapters.gateway_sim.engine_types import (
    ExecutionReport,
    MarginImpact,
    OrderType,
    OrderView,
)
from ordergate.adapters.gateway_sim.messages import fields
from ordergate.adapters.gateway_sim.translate import (
    contract_fields,
    ib_time,
    order_type_text,
    status_text,
    tif_text,
)

__all__ = [
    "UNSET_DOUBLE_TEXT",
    "commission_report",
    "completed_order",
    "completed_orders_end",
    "exec_details",
    "exec_details_end",
    "open_order",
    "open_order_end",
    "order_status",
]

UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
"""How IB writes an unset double where it does not leave the field empty (commission reports)."""

_PRICE_PLACES = Decimal("1e-8")
_TRAILING = {OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT}


def _trail_stop(view: OrderView) -> Decimal | None:
    """trailStopPrice: the stop a trailing order has in force now (IB reports the ratchet)."""
    now = view.trail_stop_price
    return now if now is not None else view.spec.trail_stop_price


def _px(value: Decimal) -> Decimal:
    return value.quantize(_PRICE_PLACES)


def order_status(view: OrderView) -> list[str]:
    """orderStatus (3): 12 fields, no version field."""
    return fields(
        3, view.key.order_id, status_text(view.status), view.filled, view.remaining,
        _px(view.avg_fill_price), view.perm_id, view.spec.parent_id,
        _px(view.last_fill_price), view.key.client_id, "", 0,
    )


def _aux_price(view: OrderView) -> Decimal | None:
    spec = view.spec
    return spec.trailing_amount if spec.order_type in _TRAILING else spec.stop_price


def _order_head(view: OrderView) -> list[object]:
    spec = view.spec
    return [
        spec.side.value, spec.quantity, order_type_text(spec.order_type), spec.limit_price,
        _aux_price(view), tif_text(spec.tif), spec.oca_group, view.account or spec.account,
        "O", 0, spec.order_ref,
    ]


def open_order(view: OrderView, version: int, what_if: MarginImpact | None = None) -> list[str]:
    """openOrder (5): 127 fields for a plain order at version 178."""
    spec = view.spec
    values: list[object] = [5, view.key.order_id, *contract_fields(view.contract)]
    values += _order_head(view)
    values += [view.key.client_id, view.perm_id, spec.outside_rth, False, 0, "", "", "", "", ""]
    if version < 177:
        values.append("")  # faProfile
    values += [
        "", ib_time(spec.good_till) if spec.good_till else "", "", "", "", 0, "", -1, 0,
        "", "", "", "", "",  # startingPrice .. stockRangeUpper
        "", False, False, False, "", spec.oca_type, False, False, "",  # displaySize .. nbboCap
        spec.parent_id, 0, "", "", "", "",  # parentId, triggerMethod, volatility .. dnAuxPrice
        False, "", _trail_stop(view), spec.trailing_percent, "", "", "",  # .. comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo routing params
        "", "", "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
        "",  # hedgeType
        False, "", "", False, 0,  # optOutSmartRouting .. notHeld, delta-neutral contract present
        "",  # algoStrategy
        False, what_if is not None, status_text(view.status),
    ]
    values += _margin_block(what_if)
    values += [False, False, 0]  # randomizeSize, randomizePrice, conditions
    values += [
        "", "", _trail_stop(view), spec.limit_price_offset, "", "", "", 0,
        "", "", "", "", False, False, False, False,  # softDollarTier x3, cashQty, flags
        "", "", False,  # duration, postToAts, autoCancelParent
        "", "", "", "", "",  # minTradeQty .. midOffsetAtHalf
    ]
    return fields(*values)


def _margin_block(what_if: MarginImpact | None) -> list[object]:
    if what_if is None:
        return ["", "", "", "", "", "", "", "", "", "", "", "", "", ""]
    w = what_if
    return [
        w.init_margin_before, w.maint_margin_before, w.equity_with_loan_before,
        w.init_margin_change, w.maint_margin_change, w.equity_with_loan_change,
        w.init_margin_before + w.init_margin_change,
        w.maint_margin_before + w.maint_margin_change,
        w.equity_with_loan_before + w.equity_with_loan_change,
        w.commission, w.commission, w.commission, w.currency, "",
    ]


def open_order_end() -> list[str]:
    """openOrderEnd (53)."""
    return fields(53, 1)


def completed_order(view: OrderView, version: int) -> list[str]:
    """completedOrder (101): 96 fields for a plain order at version 178."""
    spec = view.spec
    values: list[object] = [101, *contract_fields(view.contract)]
    values += _order_head(view)
    values += [view.perm_id, spec.outside_rth, False, 0, "", "", "", ""]
    if version < 177:
        values.append("")  # faProfile
    values += [
        "", ib_time(spec.good_till) if spec.good_till else "", "", "", "", 0, "", -1,
        "", "", "", "", "",  # startingPrice .. stockRangeUpper
        "", False, False, "", spec.oca_type, 0, "", "", "", "",  # displaySize .. dnAuxPrice
        False, "", _trail_stop(view), spec.trailing_percent, "",  # .. comboLegsDescrip
        0, 0, 0, "", "", "", "",  # legs, order legs, params, scale x3, hedgeType
        "", "", False, 0, "",  # clearingAccount, clearingIntent, notHeld, dnc present, algo
        False, status_text(view.status), False, False, 0,  # solicited .. conditions
        _trail_stop(view), spec.limit_price_offset, "", False, False, "", view.filled, 0,
        False, "", False, False, 0,  # autoCancelParent .. parentPermId
        ib_time(view.updated_at) if view.updated_at else "", view.reason,
        "", "", "", "", "",  # minTradeQty .. midOffsetAtHalf
    ]
    return fields(*values)


def completed_orders_end() -> list[str]:
    """completedOrdersEnd (102): the id alone."""
    return fields(102)


def exec_details(req_id: int, execution: ExecutionReport, version: int) -> list[str]:
    """execDetails (11): reqId -1 for live fills; 32 fields at version 178."""
    e = execution
    values: list[object] = [
        11, req_id, e.key.order_id, *contract_fields(e.contract), e.exec_id, ib_time(e.time),
        e.account, e.exchange, "BOT" if e.side.value == "BUY" else "SLD", e.quantity,
        _px(e.price), e.perm_id, e.key.client_id, 0, e.cum_qty, _px(e.avg_price), e.order_ref,
        "", "", "", 1 if e.added_liquidity else 2,
    ]
    if version >= 178:
        values.append(False)  # pendingPriceRevision
    return fields(*values)


def exec_details_end(req_id: int) -> list[str]:
    """execDetailsEnd (55)."""
    return fields(55, 1, req_id)


def commission_report(execution: ExecutionReport) -> list[str]:
    """commissionReport (59): exactly 8 fields; unrealised PnL and yield as IB's unset double."""
    e = execution
    realized = UNSET_DOUBLE_TEXT if e.realized_pnl is None else e.realized_pnl
    return fields(59, 1, e.exec_id, e.commission, e.commission_currency, realized,
                  UNSET_DOUBLE_TEXT, "")
