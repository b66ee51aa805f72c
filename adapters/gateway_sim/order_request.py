"""Parser of the placeOrder request (message 3), mirroring the client's field layout exactly.

The layout has no version field and several variable-length runs (combo legs, delta-neutral,
scale, hedge, algo parameters, PEG orders, conditions), so the parser walks it with a cursor
following the same conditionals the client used when writing it, and then asserts that every
field was consumed: a layout mismatch is reported, never silently misread. The fields the emulator
acts on are kept in `WireOrder`; the rest are read and checked for shape only. Must never import
`ib_async`.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ordergate.adapters.gateway_sim.cursor import (
    FieldCursor,
    RequestError,
    WireContract,
    read_contract,
)

__all__ = ["CONDITION_FIELD_COUNTS", "PlaceOrder", "WireOrder", "parse_place_order"]

CONDITION_FIELD_COUNTS = {1: 7, 3: 4, 4: 4, 5: 5, 6: 6, 7: 6}
"""Fields per order condition by condition type (price, time, margin, execution, volume,
percent change), the type field included."""

_PEG_BENCH = {"PEG BENCH", "PEGBENCH"}
_PEG_BEST = {"PEG BEST", "PEGBEST"}
_PEG_MID = {"PEG MID", "PEGMID"}


@attrs.frozen
class WireOrder:
    """The order fields the emulator uses, as typed values (None where the client sent unset)."""

    action: str
    total_quantity: Decimal | None
    order_type: str
    lmt_price: Decimal | None = None
    aux_price: Decimal | None = None
    tif: str = ""
    oca_group: str = ""
    account: str = ""
    open_close: str = ""
    origin: int = 0
    order_ref: str = ""
    transmit: bool = True
    parent_id: int = 0
    display_size: int | None = None
    trigger_method: int = 0
    outside_rth: bool = False
    hidden: bool = False
    good_after_time: str = ""
    good_till_date: str = ""
    oca_type: int = 0
    all_or_none: bool = False
    trail_stop_price: Decimal | None = None
    trailing_percent: Decimal | None = None
    lmt_price_offset: Decimal | None = None
    cash_qty: Decimal | None = None
    what_if: bool = False
    algo_strategy: str = ""
    condition_count: int = 0
    combo_leg_count: int = 0
    model_code: str = ""


@attrs.frozen
class PlaceOrder:
    """placeOrder: a new order, or a modification when `order_id` is already live."""

    order_id: int
    contract: WireContract
    order: WireOrder


def parse_place_order(fields: list[str], version: int) -> PlaceOrder:
    """Parse a whole placeOrder message (`fields[0] == "3"`) sent at server `version`."""
    cur = FieldCursor(fields, start=1)
    order_id = cur.integer("orderId")
    try:
        return _parse_body(cur, order_id, version)
    except RequestError as exc:
        raise RequestError(
            f"placeOrder {order_id}: {exc.detail}", msg_id=3, req_id=order_id
        ) from None


def _parse_body(cur: FieldCursor, order_id: int, version: int) -> PlaceOrder:
    contract = read_contract(cur)
    cur.skip(2, "secIdType/secId")
    action = cur.text("action")
    total_quantity = cur.decimal("totalQuantity")
    order_type = cur.text("orderType")
    lmt_price = cur.decimal("lmtPrice")
    aux_price = cur.decimal("auxPrice")
    tif = cur.text("tif")
    oca_group = cur.text("ocaGroup")
    account = cur.text("account")
    open_close = cur.text("openClose")
    origin = cur.integer("origin")
    order_ref = cur.text("orderRef")
    transmit = cur.flag("transmit")
    parent_id = cur.integer("parentId")
    cur.skip(2, "blockOrder/sweepToFill")
    display_size = cur.optional_integer("displaySize")
    trigger_method = cur.integer("triggerMethod")
    outside_rth = cur.flag("outsideRth")
    hidden = cur.flag("hidden")
    legs = _skip_combo(cur) if contract.sec_type == "BAG" else 0
    cur.skip(1, "shares allocation (deprecated, always empty)")
    cur.raw_number("discretionaryAmt")
    good_after_time = cur.text("goodAfterTime")
    good_till_date = cur.text("goodTillDate")
    cur.skip(3, "faGroup/faMethod/faPercentage")
    if version < 177:
        cur.skip(1, "faProfile")
    model_code = cur.text("modelCode")
    cur.skip(3, "shortSaleSlot/designatedLocation/exemptCode")
    oca_type = cur.integer("ocaType")
    cur.skip(2, "rule80A/settlingFirm")
    all_or_none = cur.flag("allOrNone")
    cur.skip(1, "minQty")
    cur.raw_number("percentOffset")
    cur.skip(2, "eTradeOnly/firmQuoteOnly")
    cur.skip(10, "nbboPriceCap..volatilityType")
    delta_neutral_type = cur.text("deltaNeutralOrderType")
    cur.raw_number("deltaNeutralAuxPrice")
    if delta_neutral_type:
        cur.skip(8, "delta-neutral order field")
    cur.skip(2, "continuousUpdate/referencePriceType")
    trail_stop_price = cur.decimal("trailStopPrice")
    trailing_percent = cur.decimal("trailingPercent")
    cur.skip(2, "scaleInitLevelSize/scaleSubsLevelSize")
    increment = cur.decimal("scalePriceIncrement")
    if increment is not None and increment > 0:
        cur.skip(7, "scale order field")
    cur.skip(3, "scaleTable/activeStartTime/activeStopTime")
    if cur.text("hedgeType"):
        cur.skip(1, "hedgeParam")
    cur.skip(4, "optOutSmartRouting/clearingAccount/clearingIntent/notHeld")
    if cur.flag("deltaNeutralContract present"):
        cur.skip(3, "delta-neutral contract field")
    algo_strategy = cur.text("algoStrategy")
    if algo_strategy:
        cur.skip(2 * cur.integer("algoParams count"), "algo param")
    cur.skip(1, "algoId")
    what_if = cur.flag("whatIf")
    cur.skip(4, "orderMiscOptions/solicited/randomizeSize/randomizePrice")
    if order_type in _PEG_BENCH:
        cur.skip(5, "pegged-to-benchmark field")
    condition_count = _skip_conditions(cur)
    cur.skip(2, "adjustedOrderType/triggerPrice")
    lmt_price_offset = cur.decimal("lmtPriceOffset")
    cur.skip(7, "adjusted stop fields/extOperator/softDollarTier")
    cash_qty = cur.decimal("cashQty")
    cur.skip(8, "mifid2 fields/dontUseAutoPriceForHedge/isOmsContainer/...")
    for gate, name in _VERSIONED_TAIL:
        if version >= gate:
            cur.skip(1, name)
    if version >= 170:
        _skip_peg_tail(cur, contract, order_type)
    cur.finish("placeOrder")
    order = WireOrder(
        action=action,
        total_quantity=total_quantity,
        order_type=order_type,
        lmt_price=lmt_price,
        aux_price=aux_price,
        tif=tif,
        oca_group=oca_group,
        account=account,
        open_close=open_close,
        origin=origin,
        order_ref=order_ref,
        transmit=transmit,
        parent_id=parent_id,
        display_size=display_size,
        trigger_method=trigger_method,
        outside_rth=outside_rth,
        hidden=hidden,
        good_after_time=good_after_time,
        good_till_date=good_till_date,
        oca_type=oca_type,
        all_or_none=all_or_none,
        trail_stop_price=trail_stop_price,
        trailing_percent=trailing_percent,
        lmt_price_offset=lmt_price_offset,
        cash_qty=cash_qty,
        what_if=what_if,
        algo_strategy=algo_strategy,
        condition_count=condition_count,
        combo_leg_count=legs,
        model_code=model_code,
    )
    return PlaceOrder(order_id, contract, order)


_VERSIONED_TAIL = (
    (158, "duration"),
    (160, "postToAts"),
    (162, "autoCancelParent"),
    (166, "advancedErrorOverride"),
    (169, "manualOrderTime"),
)


def _skip_combo(cur: FieldCursor) -> int:
    legs = cur.integer("comboLegs count")
    cur.skip(8 * legs, "combo leg")
    cur.skip(cur.integer("orderComboLegs count"), "order combo leg price")
    cur.skip(2 * cur.integer("smartComboRoutingParams count"), "routing param")
    return legs


def _skip_conditions(cur: FieldCursor) -> int:
    count = cur.integer("conditions count")
    for index in range(count):
        cond_type = cur.integer(f"condition {index} type")
        size = CONDITION_FIELD_COUNTS.get(cond_type)
        if size is None:
            raise RequestError(f"condition {index} has unknown type {cond_type}")
        cur.skip(size - 1, f"condition {index} field")
    if count:
        cur.skip(2, "conditionsIgnoreRth/conditionsCancelOrder")
    return count


def _skip_peg_tail(cur: FieldCursor, contract: WireContract, order_type: str) -> None:
    if contract.exchange == "IBKRATS":
        cur.skip(1, "minTradeQty")
    if order_type in _PEG_BEST:
        cur.skip(1, "minCompeteSize")
        if cur.raw_number("competeAgainstBestOffset") == "Infinite":
            cur.skip(2, "midOffsetAtWhole/midOffsetAtHalf")
    elif order_type in _PEG_MID:
        cur.skip(2, "midOffsetAtWhole/midOffsetAtHalf")
