"""Answers to the session, order and account requests, and the routing of executions.

Each handler turns one parsed request into engine calls and wire messages for one session;
market-data and contract requests are in `handlers_market.py`. Every request that the client
awaits gets its End message or an error with its reqId. Must never import `ib_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ordergate.adapters.gateway_sim import handlers_market, handlers_reference
from ordergate.adapters.gateway_sim import messages as m
from ordergate.adapters.gateway_sim import messages_account as ma
from ordergate.adapters.gateway_sim import messages_orders as mo
from ordergate.adapters.gateway_sim import requests as rq
from ordergate.adapters.gateway_sim.engine import EngineRefusal, RefusalReason
from ordergate.adapters.gateway_sim.engine_types import (
    ContractSpec,
    ExecutionReport,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderView,
    SecType,
)
from ordergate.adapters.gateway_sim.faults import CONNECTIVITY_MESSAGES
from ordergate.adapters.gateway_sim.routing import (
    push_account_multi,
    push_account_summary,
    push_account_updates,
)
from ordergate.adapters.gateway_sim.session import ClientSession
from ordergate.adapters.gateway_sim.translate import TranslationError, order_spec, parse_ib_time
from ordergate.domain.values import ZERO

if TYPE_CHECKING:
    from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = ["count_message", "handle", "order_refusal"]

_ORDER_CODES = {
    RefusalReason.DUPLICATE_ORDER_ID: 103,
    RefusalReason.MODIFY_NOT_ALLOWED: 105,
    RefusalReason.UNKNOWN_CONTRACT: 200,
}


def order_refusal(reason: RefusalReason, detail: str) -> tuple[int, str]:
    """IB's error code and text for an order the engine refused."""
    code = _ORDER_CODES.get(reason, 201)
    if code == 103:
        return code, f"Duplicate order id: {detail}"
    if code == 105:
        return code, f"Order being modified does not match original order: {detail}"
    if code == 200:
        return code, f"No security definition has been found for the request: {detail}"
    return code, f"Order rejected - reason:{detail}"


def count_message(server: GatewayServer, session: ClientSession) -> None:
    """Apply IB's 50 messages/s limit (error 100) and the armed pacing-violation fault."""
    now = asyncio.get_running_loop().time()
    if now - session.window_started >= 1.0:
        session.window_started, session.messages_in_window = now, 0
    session.messages_in_window += 1
    limit = server.message_rate_limit
    over = limit is not None and session.messages_in_window == limit + 1
    if over or server.faults.take("rate_violations"):
        text = (f"Max rate of messages per second has been exceeded:max={limit or 50} "
                f"rec={session.messages_in_window} (543)")
        server.send(session, m.error(-1, 100, text))


def handle(server: GatewayServer, session: ClientSession, request: rq.Request) -> None:
    """Answer `request` on `session`."""
    if isinstance(request, rq.StartApi):
        _start_api(server, session, request)
        return
    if session.client_id is None:
        server.send(session, m.error(-1, 320, "Error reading request: startApi must come first"))
        return
    handler = (_HANDLERS.get(type(request)) or handlers_market.HANDLERS.get(type(request))
               or handlers_reference.HANDLERS.get(type(request)))
    if handler is not None:
        handler(server, session, request)


def _start_api(server: GatewayServer, session: ClientSession, request: rq.StartApi) -> None:
    client_id = request.client_id
    taken = client_id in server.sessions or client_id in server.faults.occupied_client_ids
    if session.client_id is not None or taken:
        server.send(session, m.error(
            -1, 326, "Unable to connect as the client id is already in use. "
            "Retry with a unique client id."))
        server.spawn(session.close())
        return
    server.register(session, client_id)
    server.send(session, m.managed_accounts(server.engine.accounts()))
    server.send(session, m.next_valid_id(server.next_valid_id(client_id)))
    if server.announce_farms:
        for code in (2104, 2106, 2158):
            server.send(session, m.error(-1, code, CONNECTIVITY_MESSAGES[code]))
    for view in server.engine.open_orders():
        if view.key.client_id == client_id:
            server.announce(session, view)


def _place_order(server: GatewayServer, session: ClientSession, req: rq.PlaceOrder) -> None:
    assert session.client_id is not None
    order_id = req.order_id
    server.note_order_id(session.client_id, order_id)
    reason = server.faults.take_order_rejection()
    if reason is not None:
        server.send(session, m.error(order_id, 201, f"Order rejected - reason:{reason}"))
        return
    contract = handlers_market.resolve(server, session, order_id, req.contract)
    if contract is None:
        return
    try:
        spec = order_spec(req.order)
    except TranslationError as exc:
        server.send(session, m.error(order_id, 201, f"Order rejected - reason:{exc}"))
        return
    key = OrderKey(session.client_id, order_id)
    try:
        if req.order.what_if:
            impact = server.engine.what_if(key, contract, spec)
            view = _what_if_view(key, contract, spec)
            server.send(session, mo.open_order(view, session.version, what_if=impact))
        else:
            server.engine.place_order(key, contract, spec)
    except EngineRefusal as exc:
        server.send(session, m.error(order_id, *order_refusal(exc.reason, exc.detail)))


def _what_if_view(key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> OrderView:
    # A what-if order is never placed: it has no permId and nothing filled.
    return OrderView(key, 0, contract, spec, OrderStatus.HELD, filled=ZERO,
                     remaining=spec.quantity)


def _cancel_order(server: GatewayServer, session: ClientSession, req: rq.CancelOrder) -> None:
    assert session.client_id is not None
    try:
        server.engine.cancel_order(OrderKey(session.client_id, req.order_id))
    except EngineRefusal as exc:
        if exc.reason is RefusalReason.ORDER_NOT_FOUND:
            text = f"OrderId {req.order_id} that needs to be cancelled is not found."
            server.send(session, m.error(req.order_id, 10147, text))
        else:
            text = f"Cancel attempted when order is not in a cancellable state: {exc.detail}"
            server.send(session, m.error(req.order_id, 161, text))
        return
    server.send(session, m.error(req.order_id, 202, "Order Canceled - reason:"))


def _open_orders(server: GatewayServer, session: ClientSession, req: Any) -> None:
    every_client = isinstance(req, rq.ReqAllOpenOrders)
    for view in server.engine.open_orders():
        if every_client or view.key.client_id == session.client_id:
            server.announce(session, view)
    server.send(session, mo.open_order_end())


def _completed_orders(server: GatewayServer, session: ClientSession, req: Any) -> None:
    for view in server.engine.completed_orders():
        server.send(session, mo.completed_order(view, session.version))
    server.send(session, mo.completed_orders_end())


def _executions(server: GatewayServer, session: ClientSession, req: rq.ReqExecutions) -> None:
    for report in server.engine.executions():
        if _matches(req, report):
            server.send(session, mo.exec_details(req.req_id, report, session.version))
            server.send(session, mo.commission_report(report))
    server.send(session, mo.exec_details_end(req.req_id))


def _matches(req: rq.ReqExecutions, e: ExecutionReport) -> bool:
    side = "BOT" if e.side.value == "BUY" else "SLD"
    checks = [
        not req.client_id or req.client_id == e.key.client_id,
        not req.account or req.account == e.account,
        not req.symbol or req.symbol.upper() == e.contract.symbol,
        not req.sec_type
        or req.sec_type == ("OPT" if e.contract.sec_type is SecType.OPTION else "STK"),
        not req.side or req.side.upper() in {side, e.side.value},
    ]
    if req.time:
        # An unreadable time filter filters nothing, as a lenient gateway would.
        with contextlib.suppress(TranslationError):
            checks.append(e.time >= parse_ib_time(req.time))
    return all(checks)


def _positions(server: GatewayServer, session: ClientSession, req: Any) -> None:
    session.subscriptions.positions = True
    for account in server.engine.accounts():
        for pos in server.engine.positions(account):
            server.send(session, ma.position(pos))
    server.send(session, ma.position_end())


def _account_updates(
    server: GatewayServer, session: ClientSession, req: rq.ReqAccountUpdates
) -> None:
    accounts = server.engine.accounts()
    account = req.account or accounts[0]
    if not req.subscribe:
        session.subscriptions.account_updates = None
        return
    if account not in accounts:
        server.send(session, m.error(-1, 321, f"Error validating request: account {account!r} "
                                     "is not managed by this gateway"))
        server.send(session, ma.account_download_end(account))
        return
    session.subscriptions.account_updates = account
    push_account_updates(server, session, account)
    server.send(session, ma.account_download_end(account))


def _account_multi(
    server: GatewayServer, session: ClientSession, req: rq.ReqAccountUpdatesMulti
) -> None:
    session.subscriptions.account_multi[req.req_id] = req.account
    push_account_multi(server, session, req.req_id, req.account)
    server.send(session, ma.account_update_multi_end(req.req_id))


def _account_summary(
    server: GatewayServer, session: ClientSession, req: rq.ReqAccountSummary
) -> None:
    tags = frozenset(t.strip() for t in req.tags.split(",") if t.strip())
    session.subscriptions.account_summary[req.req_id] = tags
    push_account_summary(server, session, req.req_id, tags)
    server.send(session, ma.account_summary_end(req.req_id))


def _pnl(server: GatewayServer, session: ClientSession, req: rq.ReqPnL) -> None:
    if req.account not in server.engine.accounts():
        server.send(session, m.error(req.req_id, 321, f"Error validating request: account "
                                     f"{req.account!r} is not managed by this gateway"))
        return
    session.subscriptions.pnl[req.req_id] = req.account
    server.send(session, ma.pnl(req.req_id, server.engine.pnl(req.account)))


def _pnl_single(server: GatewayServer, session: ClientSession, req: rq.ReqPnLSingle) -> None:
    view = None
    if req.account in server.engine.accounts():
        view = server.engine.pnl_single(req.account, req.con_id)
    if view is None:
        server.send(session, m.error(req.req_id, 200, "No security definition has been found "
                                     f"for the request (conId {req.con_id}, {req.account!r})"))
        return
    session.subscriptions.pnl_single[req.req_id] = (req.account, req.con_id)
    server.send(session, ma.pnl_single(req.req_id, view))


def _cancel(attr: str) -> Callable[[GatewayServer, ClientSession, Any], None]:
    def cancel(server: GatewayServer, session: ClientSession, req: Any) -> None:
        getattr(session.subscriptions, attr).pop(req.req_id, None)

    return cancel


def _simple(server: GatewayServer, session: ClientSession, req: Any) -> None:
    assert session.client_id is not None
    engine = server.engine
    if isinstance(req, rq.ReqIds):
        server.send(session, m.next_valid_id(server.next_valid_id(session.client_id)))
    elif isinstance(req, rq.ReqCurrentTime):
        server.send(session, m.current_time(engine.now()))
    elif isinstance(req, rq.ReqManagedAccts):
        server.send(session, m.managed_accounts(engine.accounts()))
    elif isinstance(req, rq.ReqGlobalCancel):
        engine.cancel_all()
    elif isinstance(req, rq.ReqMarketDataType):
        session.market_data_type = req.market_data_type
    elif isinstance(req, rq.CancelPositions):
        session.subscriptions.positions = False
    elif isinstance(req, rq.Unsupported):
        code, text = OUT_OF_SCOPE.get(req.msg_id, (320, "Error reading request: message id "
                                                   f"{req.msg_id} is not supported by the "
                                                   "gateway emulator"))
        server.send(session, m.error(req.req_id, code, text))


_NOT_SUBSCRIBED = (354, "Requested market data is not subscribed.")
OUT_OF_SCOPE: dict[int, tuple[int, str]] = {
    10: _NOT_SUBSCRIBED,  # reqMktDepth
    22: (162, "Historical Market Data Service error message:API scanner subscription is not "
              "available (the emulator serves no scanner data)"),  # reqScannerSubscription
    50: (420, "Invalid Real-time Query:No market data permissions"),  # reqRealTimeBars
    52: (430, "We are sorry, but fundamentals data for the security specified is not "
              "available."),  # reqFundamentalData
    54: _NOT_SUBSCRIBED,  # calculateImpliedVolatility
    55: _NOT_SUBSCRIBED,  # calculateOptionPrice
    84: (10276, "News feed is not allowed."),  # reqNewsArticle
    86: (10276, "News feed is not allowed."),  # reqHistoricalNews
    97: _NOT_SUBSCRIBED,  # reqTickByTickData
}
"""Requests the emulator does not serve, answered with IB's own refusal for that request (an
account without the subscription or permission); any other unknown request gets 320."""


_HANDLERS: dict[type, Callable[[GatewayServer, ClientSession, Any], None]] = {
    rq.PlaceOrder: _place_order,
    rq.CancelOrder: _cancel_order,
    rq.ReqOpenOrders: _open_orders,
    rq.ReqAllOpenOrders: _open_orders,
    rq.ReqCompletedOrders: _completed_orders,
    rq.ReqExecutions: _executions,
    rq.ReqPositions: _positions,
    rq.ReqAccountUpdates: _account_updates,
    rq.ReqAccountUpdatesMulti: _account_multi,
    rq.CancelAccountUpdatesMulti: _cancel("account_multi"),
    rq.ReqAccountSummary: _account_summary,
    rq.CancelAccountSummary: _cancel("account_summary"),
    rq.ReqPnL: _pnl,
    rq.CancelPnL: _cancel("pnl"),
    rq.ReqPnLSingle: _pnl_single,
    rq.CancelPnLSingle: _cancel("pnl_single"),
    rq.ReqIds: _simple,
    rq.ReqCurrentTime: _simple,
    rq.ReqManagedAccts: _simple,
    rq.ReqGlobalCancel: _simple,
    rq.ReqMarketDataType: _simple,
    rq.CancelPositions: _simple,
    rq.Unsupported: _simple,
}
