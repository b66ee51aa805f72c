"""`SimGatewayEngine`: the gateway emulator driven by the sim matching engine and its replayed
market (a `SimSession`), so an IB client trades against exactly what the in-process sim broker
would give it.

Orders reach the `MatchingEngine` the way `SimBroker` hands them over: one `submit` per order, one
`submit_list` per bracket (held with transmit=False at the gateway until the client's order that
transmits it, then sent parent first in the order the client placed them), `modify` for a live
order placed again, `cancel`. The client order id is the one our IBKR adapter put in `orderRef`,
so the simulator sees the ids the in-process sim broker sees and fills identically. The market
moves only through `advance_day` (one replayed trading day, as `ReplayPacer.next_cycle`), whose
events reach the listeners bar by bar. Calls are synchronous and deterministic; the engine never
reads the wall clock and never imports `ib_async`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import attrs

from ordergate.adapters.gateway_sim import sim_account, sim_market
from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    EngineListener,
    EngineRefusal,
    RefusalReason,
)
from ordergate.adapters.gateway_sim.engine_types import (
    AccountSnapshot,
    BarRequest,
    ContractQuery,
    ContractSpec,
    ExecutionReport,
    MarginImpact,
    MarketSnapshot,
    OrderKey,
    OrderSpec,
    OrderView,
    PnLSingleView,
    PnLView,
    PositionView,
)
from ordergate.adapters.gateway_sim.exec_ids import ExecutionIds
from ordergate.adapters.gateway_sim.sim_contracts import SimContracts
from ordergate.adapters.gateway_sim.sim_orders import SimOrderBook, SimOrderRecord
from ordergate.adapters.gateway_sim.sim_translate import (
    client_order_id,
    modification,
    order_request,
    refusal_for,
)
from ordergate.adapters.sim.session import SimSession
from ordergate.domain.errors import BrokerRejected
from ordergate.domain.market import Bar
from ordergate.domain.values import ClientOrderId
from ordergate.ports.broker import BrokerEvent

__all__ = ["SimGatewayEngine"]


class SimGatewayEngine:
    """A `GatewayEngine` over `session` (see the module docstring). One account: the sim's."""

    def __init__(self, session: SimSession, *, execution_ids: ExecutionIds | None = None) -> None:
        """`execution_ids` numbers the executions (default: IB-style ids unique to this start,
        see `exec_ids.py`; the simulator's own `SIM-…` ids restart with every process)."""
        self.session = session
        self.contracts = SimContracts(session)
        self.orders = SimOrderBook(
            self._emit,
            execution_ids=execution_ids,
            spec_for=self.contracts.spec_for,
            account=session.engine.ledger.account_id,
        )
        self._listeners: list[EngineListener] = []
        self._day = sim_account.day_start(session.engine)

    # ---- replay ----
    @property
    def total_days(self) -> int:
        """Trading days the replay holds (replayed or not)."""
        return self.session.pacer.total_cycles or 0

    def upcoming_day(self) -> date | None:
        """The trading date `advance_day` replays next; None once the replay is over."""
        return self.session.pacer.upcoming_day()

    def advance_day(self) -> bool:
        """Replay the next trading day (every symbol's bar, then the watched options re-priced),
        emitting its order events bar by bar; False when the replay is over."""
        self._day = sim_account.day_start(self.session.engine)
        return self.session.pacer.step_day(observe=self._absorb) is not None

    # ---- GatewayEngine: identity, time, contracts ----
    def accounts(self) -> Sequence[str]:
        """The simulated account."""
        return (self._account,)

    def now(self) -> datetime:
        """Simulated time (the session clock)."""
        return self.session.clock.now()

    def qualify(self, query: ContractQuery) -> Sequence[ContractSpec]:
        """Session stocks and listed options matching `query`; a fully specified option on a
        traded underlying is listed on demand (see `SimContracts`)."""
        found, events = self.contracts.qualify(query, self.now())
        self._absorb(events)
        return found

    # ---- GatewayEngine: orders ----
    def place_order(self, key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> None:
        """A new order (held while `transmit` is False), or a modification of a live one."""
        known = self.orders.by_key(key)
        if known is not None:
            self._modify(known, contract, spec)
            return
        contract = self._own(contract)
        if spec.account and spec.account != self._account:
            raise EngineRefusal(
                RefusalReason.UNKNOWN_ACCOUNT,
                f"account {spec.account!r} is not {self._account}, the simulated account",
            )
        parent = None
        if spec.parent_id:
            parent = self.orders.by_key(OrderKey(key.client_id, spec.parent_id))
            if parent is None or parent.status.is_done:
                raise EngineRefusal(
                    RefusalReason.INVALID_ORDER,
                    f"parent order {spec.parent_id} is unknown or no longer working",
                )
        cid = client_order_id(key, spec, self._taken)
        if self._taken(cid):
            raise EngineRefusal(
                RefusalReason.DUPLICATE_ORDER_ID, f"client order id {cid} was used already"
            )
        request = order_request(
            cid, contract, spec, None if parent is None else parent.client_order_id
        )
        record = self.orders.new(
            key, contract, spec, account=self._account, request=request, parent=parent
        )
        if spec.transmit:
            self._transmit(record)
        else:
            self.orders.announce(record, self.now())

    def cancel_order(self, key: OrderKey) -> None:
        """Cancel a live order (a held one at the gateway, else in the simulator)."""
        record = self.orders.by_key(key)
        if record is None:
            raise EngineRefusal(RefusalReason.ORDER_NOT_FOUND, f"no order {key.order_id}")
        if record.status.is_done:
            raise EngineRefusal(
                RefusalReason.NOT_CANCELLABLE,
                f"order {key.order_id} is already {record.status.value}",
            )
        self._cancel(record, "cancelled by the client")

    def cancel_all(self) -> None:
        """Cancel every live order of every client, oldest first."""
        for record in list(self.orders.records()):
            if not record.status.is_done:
                try:
                    self._cancel(record, "global cancel")
                except EngineRefusal:
                    continue  # it finished in the simulator meanwhile

    def what_if(self, key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> MarginImpact:
        """Margin and commission impact of `spec`, from the ledger and the fill model."""
        contract = self._own(contract)
        request = order_request(ClientOrderId(f"WHATIF{key.client_id}-{key.order_id}"),
                                contract, attrs.evolve(spec, parent_id=0), None)
        return sim_account.what_if(self.session.engine, request)

    def open_orders(self) -> Sequence[OrderView]:
        """Every live order (held or working), oldest first."""
        return [r.view() for r in self.orders.records() if not r.status.is_done]

    def completed_orders(self) -> Sequence[OrderView]:
        """Every filled, cancelled or rejected order, oldest first."""
        return [r.view() for r in self.orders.records() if r.status.is_done]

    def executions(self) -> Sequence[ExecutionReport]:
        """Every execution of an order placed through the gateway, oldest first."""
        return list(self.orders.executions)

    # ---- GatewayEngine: account ----
    def positions(self, account: str) -> Sequence[PositionView]:
        """Non-zero positions (none for an account that is not the simulated one)."""
        if account != self._account:
            return []
        return sim_account.positions(self.session.engine, self.contracts.spec_for)

    def account_snapshot(self, account: str) -> AccountSnapshot:
        """Account values; `EngineRefusal` (UNKNOWN_ACCOUNT) for another account."""
        self._check_account(account)
        return sim_account.account_snapshot(self.session.engine)

    def pnl(self, account: str) -> PnLView:
        """Account PnL (daily: since the current replayed day began)."""
        self._check_account(account)
        return sim_account.pnl(self.session.engine, self._day)

    def pnl_single(self, account: str, con_id: int) -> PnLSingleView | None:
        """PnL of one position; None for an unknown contract or account."""
        spec = self.contracts.get(con_id)
        if spec is None or account != self._account:
            return None
        return sim_account.pnl_single(self.session.engine, spec.instrument, self._day)

    # ---- GatewayEngine: market data ----
    def snapshot(self, con_id: int) -> MarketSnapshot | None:
        """The quote of `con_id` at its last trade; None when it has not traded."""
        spec = self.contracts.get(con_id)
        return None if spec is None else sim_market.snapshot(self.session, spec)

    def bars(self, request: BarRequest) -> Sequence[Bar]:
        """The session's daily bars (`sim_market.session_bars`)."""
        spec = self.contracts.get(request.con_id)
        if spec is None:
            raise EngineRefusal(RefusalReason.UNKNOWN_CONTRACT, f"no contract {request.con_id}")
        return sim_market.session_bars(self.session, spec, request)

    # ---- GatewayEngine: listeners ----
    def add_listener(self, listener: EngineListener) -> None:
        """Register `listener` for order events."""
        self._listeners.append(listener)

    def remove_listener(self, listener: EngineListener) -> None:
        """Unregister `listener` (ignored if unknown)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # ---- internals ----
    @property
    def _account(self) -> str:
        return self.session.engine.ledger.account_id

    def _check_account(self, account: str) -> None:
        if account != self._account:
            raise EngineRefusal(RefusalReason.UNKNOWN_ACCOUNT, f"unknown account {account!r}")

    def _own(self, contract: ContractSpec) -> ContractSpec:
        own = self.contracts.get(contract.con_id)
        if own is None:
            raise EngineRefusal(
                RefusalReason.UNKNOWN_CONTRACT, f"conId {contract.con_id} is not traded here"
            )
        return own

    def _taken(self, cid: ClientOrderId) -> bool:
        return self.orders.knows(cid) or cid in self.session.engine.book.orders

    def _emit(self, event: EngineEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _absorb(self, events: Sequence[BrokerEvent]) -> None:
        if events:
            self.orders.absorb(events)

    def _transmit(self, record: SimOrderRecord) -> None:
        """Hand `record` and its held family to the simulator: `submit` for one order,
        `submit_list` (parent first, in placement order) for a bracket or OCA group."""
        group = self.orders.family(record)
        engine = self.session.engine
        for member in group:
            member.submitted = True
        try:
            if len(group) == 1:
                _, events = engine.submit(record.request)
            else:
                _, events = engine.submit_list([m.request for m in group])
        except BrokerRejected as exc:
            for member in group:
                member.submitted = False
            if not record.announced:
                self.orders.forget(record)
            raise refusal_for(exc) from None
        refusal = self.orders.absorb(events, hold_back=record.client_order_id)
        if refusal is not None:
            raise refusal
        for member in group:
            if not member.announced:  # still on its way (simulated latency): held until then
                self.orders.announce(member, self.now())

    def _modify(self, record: SimOrderRecord, contract: ContractSpec, spec: OrderSpec) -> None:
        if record.status.is_done:
            raise EngineRefusal(
                RefusalReason.DUPLICATE_ORDER_ID,
                f"order id {record.key.order_id} was used by an order now {record.status.value}",
            )
        if contract.con_id != record.contract.con_id:
            raise EngineRefusal(
                RefusalReason.MODIFY_NOT_ALLOWED, "a modification cannot change the contract"
            )
        if not record.submitted:
            self._modify_held(record, spec)
            return
        quantity, limit, stop = modification(record.spec, spec)
        order_request(record.client_order_id, record.contract, spec, None)  # validates
        before = record.spec
        record.spec = attrs.evolve(
            before, order_ref=spec.order_ref, outside_rth=spec.outside_rth, transmit=spec.transmit
        )
        try:
            events = self.session.engine.modify(
                record.client_order_id, quantity=quantity, limit_price=limit, stop_price=stop
            )
        except BrokerRejected as exc:
            record.spec = before
            raise refusal_for(exc) from None
        refusal = self.orders.absorb(events, hold_back=record.client_order_id)
        if refusal is not None:
            record.spec = attrs.evolve(record.spec, order_ref=before.order_ref,
                                       outside_rth=before.outside_rth, transmit=before.transmit)
            raise refusal

    def _modify_held(self, record: SimOrderRecord, spec: OrderSpec) -> None:
        """A held order is replaced whole; with transmit=True it goes in (with its family)."""
        if spec.side is not record.spec.side or spec.parent_id != record.spec.parent_id:
            raise EngineRefusal(
                RefusalReason.MODIFY_NOT_ALLOWED,
                "a modification cannot change side or parent",
            )
        parent = None if record.parent is None else record.parent.client_order_id
        record.request = order_request(record.client_order_id, record.contract, spec, parent)
        record.spec = spec
        self.orders.announce(record, self.now())
        if spec.transmit:
            self._transmit(record)

    def _cancel(self, record: SimOrderRecord, reason: str) -> None:
        if not record.submitted:
            self.orders.cancel_held(record, reason, self.now())
            return
        try:
            events = self.session.engine.cancel(record.client_order_id)
        except BrokerRejected as exc:
            raise refusal_for(exc) from None
        self._absorb(events)
