"""Parsers of the client→server requests the emulator answers, into small typed classes.

`parse_request(fields, version)` reads one whole message (message id first) with the layout the
client wrote at that server version and returns one of the `request_types` classes (re-exported
here); requests the emulator
does not implement come back as `Unsupported` (with their reqId when the layout has one, so the
server can fail that request instead of letting it hang). A malformed message raises
`RequestError`. Must never import `ib_async`, and must never act on a request (the server does).
"""

from __future__ import annotations

from collections.abc import Callable

from ordergate.adapters.gateway_sim.cursor import (
    FieldCursor,
    RequestError,
    WireContract,
    read_contract,
)
from ordergate.adapters.gateway_sim.order_request import PlaceOrder, WireOrder, parse_place_order
from ordergate.adapters.gateway_sim.request_types import (
    CancelAccountSummary,
    CancelAccountUpdatesMulti,
    CancelHistoricalData,
    CancelMktData,
    CancelOrder,
    CancelPnL,
    CancelPnLSingle,
    CancelPositions,
    Ignored,
    ReqAccountSummary,
    ReqAccountUpdates,
    ReqAccountUpdatesMulti,
    ReqAllOpenOrders,
    ReqAutoOpenOrders,
    ReqCompletedOrders,
    ReqContractDetails,
    ReqCurrentTime,
    ReqExecutions,
    ReqGlobalCancel,
    ReqHeadTimeStamp,
    ReqHistogramData,
    ReqHistoricalData,
    ReqHistoricalTicks,
    ReqIds,
    ReqManagedAccts,
    ReqMarketDataType,
    ReqMarketRule,
    ReqMatchingSymbols,
    ReqMktData,
    ReqMktDepthExchanges,
    ReqNewsProviders,
    ReqOpenOrders,
    ReqPnL,
    ReqPnLSingle,
    ReqPositions,
    ReqPositionsMulti,
    ReqScannerParameters,
    ReqSecDefOptParams,
    Request,
    StartApi,
    Unsupported,
)

__all__ = [
    "CancelAccountSummary",
    "CancelAccountUpdatesMulti",
    "CancelHistoricalData",
    "CancelMktData",
    "CancelOrder",
    "CancelPnL",
    "CancelPnLSingle",
    "CancelPositions",
    "Ignored",
    "PlaceOrder",
    "ReqAccountSummary",
    "ReqAccountUpdates",
    "ReqAccountUpdatesMulti",
    "ReqAllOpenOrders",
    "ReqAutoOpenOrders",
    "ReqCompletedOrders",
    "ReqContractDetails",
    "ReqCurrentTime",
    "ReqExecutions",
    "ReqGlobalCancel",
    "ReqHeadTimeStamp",
    "ReqHistogramData",
    "ReqHistoricalData",
    "ReqHistoricalTicks",
    "ReqIds",
    "ReqManagedAccts",
    "ReqMarketDataType",
    "ReqMarketRule",
    "ReqMatchingSymbols",
    "ReqMktData",
    "ReqMktDepthExchanges",
    "ReqNewsProviders",
    "ReqOpenOrders",
    "ReqPnL",
    "ReqPnLSingle",
    "ReqPositions",
    "ReqPositionsMulti",
    "ReqScannerParameters",
    "ReqSecDefOptParams",
    "Request",
    "RequestError",
    "StartApi",
    "Unsupported",
    "WireContract",
    "WireOrder",
    "parse_request",
]


# Requests the client sends whose reqId sits at this index (id, version, reqId → 2; id, reqId → 1).
_UNSUPPORTED_REQ_ID_INDEX = {
    10: 2,
    19: 4,
    21: 2,
    22: 1,
    50: 2,
    52: 2,
    54: 2,
    55: 2,
    67: 2,
    68: 2,
    69: 2,
    74: 2,
    79: 1,
    81: 1,
    83: 1,
    84: 1,
    86: 1,
    87: 1,
    88: 1,
    96: 1,
    97: 1,
    100: 1,
    102: 1,
    104: 1,
}
# Cancels and fire-and-forget requests: no answer is expected.
_IGNORED = {11, 12, 13, 14, 23, 51, 53, 56, 57, 70, 75, 89, 90, 98, 101, 103}


def _contract_request(cur: FieldCursor) -> tuple[int, WireContract]:
    return cur.integer("reqId"), read_contract(cur)


def _mkt_data(cur: FieldCursor, version: int) -> ReqMktData:
    cur.skip(1, "version")
    req_id, contract = _contract_request(cur)
    if contract.sec_type == "BAG":
        cur.skip(4 * cur.integer("comboLegs count"), "combo leg")
    if cur.flag("deltaNeutralContract present"):
        cur.skip(3, "delta-neutral contract field")
    generic = cur.text("genericTickList")
    snapshot = cur.flag("snapshot")
    regulatory = cur.flag("regulatorySnapshot")
    cur.skip(1, "mktDataOptions")
    return ReqMktData(req_id, contract, generic, snapshot, regulatory)


def _cancel_order(cur: FieldCursor, version: int) -> CancelOrder:
    cur.skip(1, "version")
    order_id = cur.integer("orderId")
    manual = cur.text("manualCancelOrderTime") if version >= 169 else ""
    return CancelOrder(order_id, manual)


def _executions(cur: FieldCursor, version: int) -> ReqExecutions:
    cur.skip(1, "version")
    return ReqExecutions(
        cur.integer("reqId"),
        cur.integer("clientId"),
        cur.text("acctCode"),
        cur.text("time"),
        cur.text("symbol"),
        cur.text("secType"),
        cur.text("exchange"),
        cur.text("side"),
    )


def _contract_details(cur: FieldCursor, version: int) -> ReqContractDetails:
    cur.skip(1, "version")
    req_id, contract = _contract_request(cur)
    include_expired = cur.flag("includeExpired")
    cur.skip(2, "secIdType/secId")
    if version >= 176:
        cur.skip(1, "issuerId")
    return ReqContractDetails(req_id, contract, include_expired)


def _historical(cur: FieldCursor, version: int) -> ReqHistoricalData:
    req_id, contract = _contract_request(cur)
    cur.flag("includeExpired")
    end = cur.text("endDateTime")
    bar_size = cur.text("barSizeSetting")
    duration = cur.text("durationStr")
    use_rth = cur.flag("useRTH")
    what = cur.text("whatToShow")
    format_date = cur.integer("formatDate", default=1)
    if contract.sec_type == "BAG":
        cur.skip(4 * cur.integer("comboLegs count"), "combo leg")
    keep = cur.flag("keepUpToDate")
    cur.skip(1, "chartOptions")
    return ReqHistoricalData(
        req_id, contract, end, bar_size, duration, use_rth, what, format_date, keep
    )


def _head_timestamp(cur: FieldCursor, version: int) -> ReqHeadTimeStamp:
    req_id, contract = _contract_request(cur)
    cur.flag("includeExpired")
    use_rth = cur.flag("useRTH")
    what = cur.text("whatToShow")
    return ReqHeadTimeStamp(req_id, contract, use_rth, what, cur.integer("formatDate", default=1))


def _histogram(cur: FieldCursor, version: int) -> ReqHistogramData:
    req_id, contract = _contract_request(cur)
    cur.flag("includeExpired")
    use_rth = cur.flag("useRTH")
    return ReqHistogramData(req_id, contract, use_rth, cur.text("timePeriod"))


def _historical_ticks(cur: FieldCursor, version: int) -> ReqHistoricalTicks:
    req_id, contract = _contract_request(cur)
    cur.flag("includeExpired")
    start, end = cur.text("startDateTime"), cur.text("endDateTime")
    count = cur.integer("numberOfTicks")
    what = cur.text("whatToShow")
    use_rth = cur.flag("useRth")
    cur.skip(2, "ignoreSize/miscOptions")
    return ReqHistoricalTicks(req_id, contract, start, end, count, what, use_rth)


def _versioned(build: Callable[[FieldCursor], Request]) -> Callable[[FieldCursor, int], Request]:
    def parse(cur: FieldCursor, version: int) -> Request:
        cur.skip(1, "version")
        return build(cur)

    return parse


def _plain(build: Callable[[FieldCursor], Request]) -> Callable[[FieldCursor, int], Request]:
    def parse(cur: FieldCursor, version: int) -> Request:
        return build(cur)

    return parse


_PARSERS: dict[int, Callable[[FieldCursor, int], Request]] = {
    1: _mkt_data,
    2: _versioned(lambda c: CancelMktData(c.integer("reqId"))),
    4: _cancel_order,
    5: _versioned(lambda c: ReqOpenOrders()),
    6: _versioned(lambda c: ReqAccountUpdates(c.flag("subscribe"), c.text("acctCode"))),
    7: _executions,
    8: _versioned(lambda c: ReqIds(c.integer("numIds", default=1))),
    9: _contract_details,
    15: _versioned(lambda c: ReqAutoOpenOrders(c.flag("bAutoBind"))),
    16: _versioned(lambda c: ReqAllOpenOrders()),
    17: _versioned(lambda c: ReqManagedAccts()),
    20: _historical,
    25: _versioned(lambda c: CancelHistoricalData(c.integer("reqId"))),
    49: _versioned(lambda c: ReqCurrentTime()),
    58: _versioned(lambda c: ReqGlobalCancel()),
    59: _versioned(lambda c: ReqMarketDataType(c.integer("marketDataType", default=1))),
    61: _versioned(lambda c: ReqPositions()),
    62: _versioned(
        lambda c: ReqAccountSummary(c.integer("reqId"), c.text("groupName"), c.text("tags"))
    ),
    63: _versioned(lambda c: CancelAccountSummary(c.integer("reqId"))),
    64: _versioned(lambda c: CancelPositions()),
    71: _versioned(lambda c: StartApi(c.integer("clientId"), c.text("optionalCapabilities"))),
    76: _versioned(
        lambda c: ReqAccountUpdatesMulti(
            c.integer("reqId"), c.text("account"), c.text("modelCode"), c.flag("ledgerAndNLV")
        )
    ),
    77: _versioned(lambda c: CancelAccountUpdatesMulti(c.integer("reqId"))),
    78: _plain(
        lambda c: ReqSecDefOptParams(
            c.integer("reqId"),
            c.text("underlyingSymbol"),
            c.text("futFopExchange"),
            c.text("underlyingSecType"),
            c.integer("underlyingConId"),
        )
    ),
    24: _versioned(lambda c: ReqScannerParameters()),
    74: _versioned(
        lambda c: ReqPositionsMulti(c.integer("reqId"), c.text("account"), c.text("modelCode"))
    ),
    81: _plain(lambda c: ReqMatchingSymbols(c.integer("reqId"), c.text("pattern"))),
    82: _plain(lambda c: ReqMktDepthExchanges()),
    85: _plain(lambda c: ReqNewsProviders()),
    87: _head_timestamp,
    88: _histogram,
    91: _plain(lambda c: ReqMarketRule(c.integer("marketRuleId"))),
    96: _historical_ticks,
    92: _plain(lambda c: ReqPnL(c.integer("reqId"), c.text("account"), c.text("modelCode"))),
    93: _plain(lambda c: CancelPnL(c.integer("reqId"))),
    94: _plain(
        lambda c: ReqPnLSingle(
            c.integer("reqId"), c.text("account"), c.text("modelCode"), c.integer("conId")
        )
    ),
    95: _plain(lambda c: CancelPnLSingle(c.integer("reqId"))),
    99: _plain(lambda c: ReqCompletedOrders(c.flag("apiOnly"))),
}


def parse_request(fields: list[str], version: int) -> Request:
    """Parse one client message. Raises `RequestError` (with msg_id and, if read, req_id)."""
    if not fields:
        raise RequestError("empty message")
    try:
        msg_id = int(fields[0])
    except ValueError:
        raise RequestError(f"message id {fields[0]!r} is not an integer") from None
    if msg_id == 3:
        return parse_place_order(fields, version)
    parser = _PARSERS.get(msg_id)
    if parser is None:
        return _unsupported(msg_id, fields)
    cur = FieldCursor(fields, start=1)
    try:
        request = parser(cur, version)
        cur.finish(f"message {msg_id}")
    except RequestError as exc:
        raise RequestError(
            exc.detail, msg_id=msg_id, req_id=request_id_guess(msg_id, fields)
        ) from None
    return request


def _unsupported(msg_id: int, fields: list[str]) -> Request:
    if msg_id in _IGNORED:
        return Ignored(msg_id)
    return Unsupported(msg_id, request_id_guess(msg_id, fields))


def request_id_guess(msg_id: int, fields: list[str]) -> int:
    """The reqId of a message if its layout has one at a known place and it reads; else -1."""
    index = _UNSUPPORTED_REQ_ID_INDEX.get(msg_id)
    if index is None:
        index = _REQ_ID_INDEX.get(msg_id)
    if index is None or index >= len(fields):
        return -1
    try:
        return int(fields[index])
    except ValueError:
        return -1


# Where supported requests carry their reqId, for error replies to malformed ones.
_REQ_ID_INDEX = {
    1: 2,
    2: 2,
    4: 2,
    7: 2,
    9: 2,
    20: 1,
    25: 2,
    62: 2,
    63: 2,
    76: 2,
    77: 2,
    78: 1,
    92: 1,
    93: 1,
    94: 1,
    95: 1,
}
