"""The typed requests a client can send the emulator, one small frozen class per message.

Values only: parsing lives in `requests.py`, acting on them in the server. Must never import
`ib_async`.
"""

from __future__ import annotations

import attrs

from ordergate.adapters.gateway_sim.cursor import WireContract
from ordergate.adapters.gateway_sim.order_request import PlaceOrder

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
    "StartApi",
    "Unsupported",
]


@attrs.frozen
class StartApi:
    """startApi (71): the client's id and optional capabilities."""

    client_id: int
    optional_capabilities: str = ""


@attrs.frozen
class ReqMktData:
    """reqMktData (1): quotes for a contract, once (`snapshot`) or streaming."""

    req_id: int
    contract: WireContract
    generic_ticks: str = ""
    snapshot: bool = False
    regulatory_snapshot: bool = False


@attrs.frozen
class CancelMktData:
    """cancelMktData (2)."""

    req_id: int


@attrs.frozen
class CancelOrder:
    """cancelOrder (4)."""

    order_id: int
    manual_cancel_time: str = ""


@attrs.frozen
class ReqOpenOrders:
    """reqOpenOrders (5): this client's open orders."""


@attrs.frozen
class ReqAccountUpdates:
    """reqAccountUpdates (6): account values and portfolio, subscribed or unsubscribed."""

    subscribe: bool
    account: str


@attrs.frozen
class ReqExecutions:
    """reqExecutions (7) with its filter (empty/zero fields match everything)."""

    req_id: int
    client_id: int = 0
    account: str = ""
    time: str = ""
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""


@attrs.frozen
class ReqIds:
    """reqIds (8): ask for the next valid order id."""

    num_ids: int = 1


@attrs.frozen
class ReqContractDetails:
    """reqContractDetails (9)."""

    req_id: int
    contract: WireContract
    include_expired: bool = False


@attrs.frozen
class ReqAutoOpenOrders:
    """reqAutoOpenOrders (15), sent by clientId 0."""

    auto_bind: bool


@attrs.frozen
class ReqAllOpenOrders:
    """reqAllOpenOrders (16): every client's open orders."""


@attrs.frozen
class ReqManagedAccts:
    """reqManagedAccts (17)."""


@attrs.frozen
class ReqHistoricalData:
    """reqHistoricalData (20)."""

    req_id: int
    contract: WireContract
    end_date_time: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int = 1
    keep_up_to_date: bool = False


@attrs.frozen
class CancelHistoricalData:
    """cancelHistoricalData (25)."""

    req_id: int


@attrs.frozen
class ReqCurrentTime:
    """reqCurrentTime (49)."""


@attrs.frozen
class ReqGlobalCancel:
    """reqGlobalCancel (58): cancel every open order."""


@attrs.frozen
class ReqMarketDataType:
    """reqMarketDataType (59): 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""

    market_data_type: int


@attrs.frozen
class ReqPositions:
    """reqPositions (61)."""


@attrs.frozen
class ReqAccountSummary:
    """reqAccountSummary (62)."""

    req_id: int
    group: str
    tags: str


@attrs.frozen
class CancelAccountSummary:
    """cancelAccountSummary (63)."""

    req_id: int


@attrs.frozen
class CancelPositions:
    """cancelPositions (64)."""


@attrs.frozen
class ReqAccountUpdatesMulti:
    """reqAccountUpdatesMulti (76)."""

    req_id: int
    account: str
    model_code: str = ""
    ledger_and_nlv: bool = False


@attrs.frozen
class CancelAccountUpdatesMulti:
    """cancelAccountUpdatesMulti (77)."""

    req_id: int


@attrs.frozen
class ReqSecDefOptParams:
    """reqSecDefOptParams (78): the option chain parameters of an underlying."""

    req_id: int
    underlying_symbol: str
    fut_fop_exchange: str
    underlying_sec_type: str
    underlying_con_id: int


@attrs.frozen
class ReqPnL:
    """reqPnL (92)."""

    req_id: int
    account: str
    model_code: str = ""


@attrs.frozen
class CancelPnL:
    """cancelPnL (93)."""

    req_id: int


@attrs.frozen
class ReqPnLSingle:
    """reqPnLSingle (94)."""

    req_id: int
    account: str
    model_code: str
    con_id: int


@attrs.frozen
class CancelPnLSingle:
    """cancelPnLSingle (95)."""

    req_id: int


@attrs.frozen
class ReqCompletedOrders:
    """reqCompletedOrders (99)."""

    api_only: bool


@attrs.frozen
class Ignored:
    """A request that needs no answer and that the emulator does not act on (e.g. a cancel of a
    subscription it never keeps)."""

    msg_id: int


@attrs.frozen
class ReqScannerParameters:
    """reqScannerParameters (24): no reqId; answered by scannerParameters (19)."""


@attrs.frozen
class ReqMktDepthExchanges:
    """reqMktDepthExchanges (82): no reqId; answered by mktDepthExchanges (80)."""


@attrs.frozen
class ReqNewsProviders:
    """reqNewsProviders (85): no reqId; answered by newsProviders (85)."""


@attrs.frozen
class ReqMarketRule:
    """reqMarketRule (91): keyed by the rule id; answered by marketRule (93)."""

    market_rule_id: int


@attrs.frozen
class ReqMatchingSymbols:
    """reqMatchingSymbols (81)."""

    req_id: int
    pattern: str


@attrs.frozen
class ReqHeadTimeStamp:
    """reqHeadTimeStamp (87)."""

    req_id: int
    contract: WireContract
    use_rth: bool
    what_to_show: str
    format_date: int


@attrs.frozen
class ReqHistogramData:
    """reqHistogramData (88)."""

    req_id: int
    contract: WireContract
    use_rth: bool
    period: str


@attrs.frozen
class ReqHistoricalTicks:
    """reqHistoricalTicks (96)."""

    req_id: int
    contract: WireContract
    start: str
    end: str
    number_of_ticks: int
    what_to_show: str
    use_rth: bool


@attrs.frozen
class ReqPositionsMulti:
    """reqPositionsMulti (74)."""

    req_id: int
    account: str
    model_code: str


@attrs.frozen
class Unsupported:
    """A request the emulator does not implement; `req_id` is -1 when the layout has none."""

    msg_id: int
    req_id: int = -1


Request = (
    StartApi
    | ReqMktData
    | CancelMktData
    | PlaceOrder
    | CancelOrder
    | ReqOpenOrders
    | ReqAccountUpdates
    | ReqExecutions
    | ReqIds
    | ReqContractDetails
    | ReqAutoOpenOrders
    | ReqAllOpenOrders
    | ReqManagedAccts
    | ReqHistoricalData
    | CancelHistoricalData
    | ReqCurrentTime
    | ReqGlobalCancel
    | ReqMarketDataType
    | ReqPositions
    | ReqAccountSummary
    | CancelAccountSummary
    | CancelPositions
    | ReqAccountUpdatesMulti
    | CancelAccountUpdatesMulti
    | ReqSecDefOptParams
    | ReqPnL
    | CancelPnL
    | ReqPnLSingle
    | CancelPnLSingle
    | ReqCompletedOrders
    | ReqScannerParameters
    | ReqMktDepthExchanges
    | ReqNewsProviders
    | ReqMarketRule
    | ReqMatchingSymbols
    | ReqHeadTimeStamp
    | ReqHistogramData
    | ReqHistoricalTicks
    | ReqPositionsMulti
    | Ignored
    | Unsupported
)
