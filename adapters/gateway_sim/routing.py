"""Pushing to clients what they did not just ask for: live executions with their commission
reports (to the order's owner, with the duplicate/reorder faults applied) and the position,
account and PnL updates their subscriptions call for after every fill.

Request answers live in `handlers.py`. Must never import `ib_async`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ordergate.adapters.gateway_sim import messages_account as ma
from ordergate.adapters.gateway_sim import messages_orders as mo
from ordergate.adapters.gateway_sim.engine import OptionSettled
from ordergate.adapters.gateway_sim.engine_types import ExecutionReport, PositionView
from ordergate.adapters.gateway_sim.session import ClientSession
from ordergate.domain.values import ZERO

if TYPE_CHECKING:
    from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = [
    "accounts_of",
    "push_account_multi",
    "push_account_summary",
    "push_account_updates",
    "route_execution",
    "route_settlement",
]


def push_account_updates(server: GatewayServer, session: ClientSession, account: str) -> None:
    """updateAccountValue for every tag, updatePortfolio per position, updateAccountTime."""
    snapshot = server.engine.account_snapshot(account)
    for tag, value, currency in ma.account_tags(snapshot):
        server.send(session, ma.update_account_value(tag, value, currency, account))
    for pos in server.engine.positions(account):
        server.send(session, ma.update_portfolio(pos))
    server.send(session, ma.update_account_time(server.engine.now()))


def accounts_of(server: GatewayServer, account: str) -> list[str]:
    """The managed accounts `account` names ("" or "All": every one)."""
    known = list(server.engine.accounts())
    return known if account in {"", "All"} else [a for a in known if a == account]


def push_account_multi(
    server: GatewayServer, session: ClientSession, req_id: int, account: str
) -> None:
    """accountUpdateMulti rows for `account` ("" or All: every account)."""
    for acct in accounts_of(server, account):
        for row in ma.account_tags(server.engine.account_snapshot(acct)):
            server.send(session, ma.account_update_multi(req_id, acct, "", row))


def push_account_summary(
    server: GatewayServer, session: ClientSession, req_id: int, tags: frozenset[str]
) -> None:
    """accountSummary rows of every account for the requested tags."""
    for account in server.engine.accounts():
        snapshot = server.engine.account_snapshot(account)
        for tag, value, currency in ma.summary_rows(snapshot, tags):
            server.send(session, ma.account_summary(req_id, account, tag, value, currency))


def route_execution(server: GatewayServer, execution: ExecutionReport) -> None:
    """Send a live execution to its owner (execDetails reqId -1, then its commission report,
    unless a fault reorders or duplicates them), then push position/account/PnL updates."""
    session = server.sessions.get(execution.key.client_id)
    if session is not None:
        if execution.perm_id not in session.announced_perm_ids:
            _announce_owner_order(server, session, execution)
        details = mo.exec_details(-1, execution, session.version)
        commission = mo.commission_report(execution)
        first, second = (commission, details) if server.faults.take("commission_first") else (
            details, commission)
        server.send(session, first)
        server.send(session, second)
        if server.faults.take("duplicate_executions"):
            server.send(session, details)
    for other in server.all_sessions():
        _push_after_fill(server, other, execution)


def route_settlement(server: GatewayServer, event: OptionSettled) -> None:
    """An option settled at expiry: its executions (exercise or assignment legs, outside any
    order) with their commission reports go to every client, as account events; then each
    client subscribed to positions, account updates or PnL gets them for the changed contracts
    (the option flat, the stock delivered)."""
    sessions = server.all_sessions()
    for session in sessions:
        for execution in event.executions:
            server.send(session, mo.exec_details(-1, execution, session.version))
            server.send(session, mo.commission_report(execution))
    for session in sessions:
        subs = session.subscriptions
        if subs.positions:
            held = {p.contract.con_id: p for p in server.engine.positions(event.account)}
            for contract in event.contracts:
                flat = PositionView(event.account, contract, ZERO, ZERO, None)
                server.send(session, ma.position(held.get(contract.con_id, flat)))
        if subs.account_updates == event.account:
            push_account_updates(server, session, event.account)
        for req_id, account in subs.account_multi.items():
            push_account_multi(server, session, req_id, account)
        for req_id, tags in subs.account_summary.items():
            push_account_summary(server, session, req_id, tags)
        for req_id, account in subs.pnl.items():
            server.send(session, ma.pnl(req_id, server.engine.pnl(account)))


def _announce_owner_order(
    server: GatewayServer, session: ClientSession, execution: ExecutionReport
) -> None:
    # The client finds a fill's trade by permId: make sure it has seen the openOrder first,
    # even if the engine reported the execution before announcing the order.
    for view in [*server.engine.open_orders(), *server.engine.completed_orders()]:
        if view.perm_id == execution.perm_id:
            server.announce(session, view)
            return


def _push_after_fill(server: GatewayServer, session: ClientSession, e: ExecutionReport) -> None:
    subs = session.subscriptions
    engine = server.engine
    if subs.positions:
        held = [p for p in engine.positions(e.account) if p.contract.con_id == e.contract.con_id]
        for pos in held or [_flat(server, e)]:
            server.send(session, ma.position(pos))
    if subs.account_updates == e.account:
        push_account_updates(server, session, e.account)
    for req_id, account in subs.account_multi.items():
        push_account_multi(server, session, req_id, account)
    for req_id, tags in subs.account_summary.items():
        push_account_summary(server, session, req_id, tags)
    for req_id, account in subs.pnl.items():
        server.send(session, ma.pnl(req_id, engine.pnl(account)))
    for req_id, (account, con_id) in subs.pnl_single.items():
        view = engine.pnl_single(account, con_id)
        if view is not None and con_id == e.contract.con_id:
            server.send(session, ma.pnl_single(req_id, view))


def _flat(server: GatewayServer, e: ExecutionReport) -> PositionView:
    return PositionView(e.account, e.contract, ZERO, ZERO, None)
