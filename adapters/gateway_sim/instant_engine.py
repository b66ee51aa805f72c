"""`InstantEngine`: the engine the gateway emulator runs when no simulator is plugged in.

A real but deliberately simple engine: market orders fill at once at the touch, limit orders fill
when marketable and otherwise rest, stops and trailing stops trigger on the last price (moved by
`set_price`), bracket children work once their parent fills and cancel each other, OCA groups
cancel their siblings, IOC orders that cannot fill are cancelled. Fills are whole (no partials),
without slippage or latency, and DAY/GTD orders never expire (the engine has no session clock).
Positions, executions, account values and PnL are computed from the fills. It is NOT the sim
matching engine (`ordergate.adapters.sim`), which models latency, partials, slippage and
rejections. It must never import `ib_async` or do I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from ordergate.adapters.gateway_sim.catalogue import Catalogue
from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    EngineListener,
    EngineRefusal,
    OrderExecuted,
    OrderUpdated,
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
    OrderStatus,
    OrderView,
    PnLSingleView,
    PnLView,
    PositionView,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.exec_ids import ExecutionIds
from ordergate.adapters.gateway_sim.instant_matching import (
    CommissionSchedule,
    execution_price,
    validate_order,
)
from ordergate.adapters.gateway_sim.instant_orders import OrderRecord
from ordergate.adapters.gateway_sim.ledger import INITIAL_MARGIN_RATE, Ledger
from ordergate.adapters.gateway_sim.synthetic_market import SyntheticMarket
from ordergate.domain.instruments import OptionContract
from ordergate.domain.market import Bar
from ordergate.domain.values import ZERO, Side

__all__ = ["InstantEngine"]


class InstantEngine:
    """Immediate-fill engine over a `Catalogue` and a `SyntheticMarket` (see module docstring)."""

    def __init__(
        self,
        *,
        accounts: Sequence[str] = ("DU1234567",),
        catalogue: Catalogue | None = None,
        market: SyntheticMarket | None = None,
        clock: Callable[[], datetime] | None = None,
        starting_cash: Decimal = Decimal(1_000_000),
        commissions: CommissionSchedule | None = None,
        first_perm_id: int = 1_000_001,
        execution_ids: ExecutionIds | None = None,
    ) -> None:
        if not accounts:
            raise ValueError("InstantEngine needs at least one account code")
        self._clock = clock or (lambda: datetime.now(UTC))
        self.catalogue = catalogue or Catalogue.standard(self._clock().date())
        self.market = market or SyntheticMarket(self.catalogue)
        self._commissions = commissions or CommissionSchedule()
        self._ledgers = {a: Ledger(a, starting_cash) for a in accounts}
        self._orders: dict[OrderKey, OrderRecord] = {}
        self._open: dict[OrderKey, OrderRecord] = {}  # not done (pruned lazily by `_live`)
        # Per client, its orders placed HELD and maybe still HELD, oldest first (pruned by
        # `_transmit`): a transmit touches these, not every live order.
        self._held: dict[int, dict[OrderKey, OrderRecord]] = {}
        self._executions: list[ExecutionReport] = []
        self._listeners: list[EngineListener] = []
        self._perm_ids = itertools.count(first_perm_id)
        self._execution_ids = execution_ids or ExecutionIds()

    # ---- controls (not part of the GatewayEngine protocol) ----
    def set_price(self, con_id: int, price: Decimal) -> None:
        """Move a contract's mark and re-check every working order against the new quotes."""
        self.market.set_price(con_id, price)
        for order in self._live():
            if order.status is OrderStatus.WORKING:
                self._evaluate(order)

    # ---- GatewayEngine ----
    def accounts(self) -> Sequence[str]:
        """Account codes, the first being the default for orders that name none."""
        return tuple(self._ledgers)

    def now(self) -> datetime:
        """Wall-clock (or injected) time, aware UTC."""
        return self._clock()

    def qualify(self, query: ContractQuery) -> Sequence[ContractSpec]:
        """Catalogue contracts matching `query`."""
        return self.catalogue.find(query)

    def place_order(self, key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> None:
        """Accept a new order or modify a live one (see `GatewayEngine.place_order`)."""
        validate_order(contract, spec)
        existing = self._orders.get(key)
        if existing is not None:
            self._modify(existing, contract, spec)
            return
        account = self._account(spec)
        if spec.parent_id:
            parent = self._orders.get(OrderKey(key.client_id, spec.parent_id))
            if parent is None or parent.status.is_done:
                raise EngineRefusal(
                    RefusalReason.INVALID_ORDER,
                    f"parent order {spec.parent_id} is unknown or no longer working",
                )
        self._check_funds(account, contract, spec)
        order = OrderRecord(key, next(self._perm_ids), contract, spec, account)
        self._orders[key] = order
        self._open[key] = order
        self._held.setdefault(key.client_id, {})[key] = order
        order.transmitted = spec.transmit
        self._emit_update(order)
        if spec.transmit:
            self._transmit(key.client_id)

    def cancel_order(self, key: OrderKey) -> None:
        """Cancel a live order and, with it, its bracket children."""
        order = self._orders.get(key)
        if order is None:
            raise EngineRefusal(RefusalReason.ORDER_NOT_FOUND, f"no order {key.order_id}")
        if order.status.is_done:
            raise EngineRefusal(
                RefusalReason.NOT_CANCELLABLE,
                f"order {key.order_id} is already {order.status.value}",
            )
        self._cancel(order, "cancelled by the client")

    def cancel_all(self) -> None:
        """Cancel every live order (global cancel)."""
        for order in self._live():
            if not order.status.is_done:
                self._cancel(order, "global cancel")

    def what_if(self, key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> MarginImpact:
        """Margin and commission of `spec` under the ledger's flat margin model."""
        validate_order(contract, spec)
        before = self.account_snapshot(self._account(spec))
        price = self._reference_price(contract, spec)
        notional = spec.quantity * price * contract.multiplier
        change = notional * INITIAL_MARGIN_RATE
        return MarginImpact(
            init_margin_before=before.init_margin,
            maint_margin_before=before.maint_margin,
            equity_with_loan_before=before.equity_with_loan,
            init_margin_change=change,
            maint_margin_change=change / 2,
            equity_with_loan_change=-self._commissions.commission(contract, spec.quantity, price),
            commission=self._commissions.commission(contract, spec.quantity, price),
        )

    def open_orders(self) -> Sequence[OrderView]:
        """Live orders, oldest first."""
        return [o.view() for o in self._live()]

    def completed_orders(self) -> Sequence[OrderView]:
        """Filled, cancelled and inactive orders, oldest first."""
        return [o.view() for o in self._orders.values() if o.status.is_done]

    def executions(self) -> Sequence[ExecutionReport]:
        """Every execution so far."""
        return list(self._executions)

    def positions(self, account: str) -> Sequence[PositionView]:
        """Non-zero positions of `account` (none for an unknown account)."""
        ledger = self._ledgers.get(account)
        return [] if ledger is None else ledger.positions(self._mark)

    def account_snapshot(self, account: str) -> AccountSnapshot:
        """Account values; raises `EngineRefusal` (UNKNOWN_ACCOUNT) for an unknown account."""
        return self._ledger(account).snapshot(self._mark)

    def pnl(self, account: str) -> PnLView:
        """Account PnL."""
        return self._ledger(account).pnl(self._mark)

    def pnl_single(self, account: str, con_id: int) -> PnLSingleView | None:
        """PnL of one position; None for an unknown contract."""
        contract = self.catalogue.get(con_id)
        if contract is None:
            return None
        return self._ledger(account).pnl_single(contract, self._mark)

    def snapshot(self, con_id: int) -> MarketSnapshot | None:
        """The synthetic quote of `con_id`."""
        contract = self.catalogue.get(con_id)
        return None if contract is None else self.market.snapshot(contract, self.now())

    def bars(self, request: BarRequest) -> Sequence[Bar]:
        """Seeded synthetic bars (see `SyntheticMarket.bars`)."""
        contract = self.catalogue.get(request.con_id)
        if contract is None:
            raise EngineRefusal(RefusalReason.UNKNOWN_CONTRACT, f"no contract {request.con_id}")
        try:
            return self.market.bars(contract, request, self.now())
        except ValueError as exc:
            raise EngineRefusal(RefusalReason.INVALID_REQUEST, str(exc)) from exc

    def add_listener(self, listener: EngineListener) -> None:
        """Register `listener` for order events."""
        self._listeners.append(listener)

    def remove_listener(self, listener: EngineListener) -> None:
        """Unregister `listener` (ignored if unknown)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # ---- internals ----
    def _live(self) -> list[OrderRecord]:
        """Orders not done, oldest first. Done is final, so done orders leave the index here
        (whoever finished them): the scan is over live orders, not every order ever placed."""
        live = []
        for key, order in list(self._open.items()):
            if order.status.is_done:
                del self._open[key]
            else:
                live.append(order)
        return live

    def _emit(self, event: EngineEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _emit_update(self, order: OrderRecord) -> None:
        order.updated_at = self.now()
        self._emit(OrderUpdated(order.view()))

    def _account(self, spec: OrderSpec) -> str:
        account = spec.account or next(iter(self._ledgers))
        if account not in self._ledgers:
            raise EngineRefusal(
                RefusalReason.UNKNOWN_ACCOUNT,
                f"account {account!r} is not one of {', '.join(self._ledgers)}",
            )
        return account

    def _ledger(self, account: str) -> Ledger:
        ledger = self._ledgers.get(account)
        if ledger is None:
            raise EngineRefusal(RefusalReason.UNKNOWN_ACCOUNT, f"unknown account {account!r}")
        return ledger

    def _mark(self, contract: ContractSpec) -> Decimal | None:
        return self.market.mark(contract, self.now())

    def _reference_price(self, contract: ContractSpec, spec: OrderSpec) -> Decimal:
        quote = self.market.snapshot(contract, self.now())
        touch = None if quote is None else (quote.ask if spec.side is Side.BUY else quote.bid)
        price = spec.limit_price or spec.stop_price or touch
        if price is None:
            raise EngineRefusal(RefusalReason.NO_MARKET_DATA, f"no quote for {contract.symbol}")
        return price

    def _check_funds(self, account: str, contract: ContractSpec, spec: OrderSpec) -> None:
        ledger = self._ledgers[account]
        held = ledger.position(contract.con_id, self._mark)
        quantity = ZERO if held is None else held.quantity
        if quantity * spec.side.sign < 0:
            return  # reducing a position never needs funds here
        price = self._reference_price(contract, spec)
        notional = spec.quantity * price * contract.multiplier
        is_long_option = isinstance(contract.instrument, OptionContract) and spec.side is Side.BUY
        needed = notional if is_long_option else notional * INITIAL_MARGIN_RATE
        available = ledger.snapshot(self._mark).available_funds
        if needed > available:
            raise EngineRefusal(
                RefusalReason.INSUFFICIENT_FUNDS,
                f"order needs {needed:.2f} {ledger.currency} of funds, {available:.2f} available",
            )

    def _modify(self, order: OrderRecord, contract: ContractSpec, spec: OrderSpec) -> None:
        if order.status.is_done:
            raise EngineRefusal(
                RefusalReason.DUPLICATE_ORDER_ID,
                f"order id {order.key.order_id} was used by an order now {order.status.value}",
            )
        if contract.con_id != order.contract.con_id or spec.side is not order.spec.side:
            raise EngineRefusal(
                RefusalReason.MODIFY_NOT_ALLOWED, "a modification cannot change contract or side"
            )
        if spec.order_type is not order.spec.order_type:
            raise EngineRefusal(
                RefusalReason.MODIFY_NOT_ALLOWED,
                f"cannot change a {order.spec.order_type.value} order "
                f"into a {spec.order_type.value} order",
            )
        if spec.quantity < order.filled:
            raise EngineRefusal(
                RefusalReason.INVALID_ORDER,
                f"quantity {spec.quantity} is below the {order.filled} already filled",
            )
        order.spec = spec
        self._emit_update(order)
        if spec.transmit and not order.transmitted:
            order.transmitted = True
            self._transmit(order.key.client_id)
        elif order.status is OrderStatus.WORKING:
            self._evaluate(order)

    def _transmit(self, client_id: int) -> None:
        """Transmit the client's held orders and activate those that may work now, oldest
        first. Its other live orders are working, hence transmitted already."""
        held = self._held.get(client_id)
        if not held:
            return
        waiting = [order for order in held.values() if order.status is OrderStatus.HELD]
        for order in waiting:
            order.transmitted = True
        for order in waiting:
            self._activate(order)
        still = {key: order for key, order in held.items() if order.status is OrderStatus.HELD}
        if still:
            self._held[client_id] = still
        else:
            del self._held[client_id]

    def _activate(self, order: OrderRecord) -> None:
        if order.status is not OrderStatus.HELD or not order.transmitted:
            return
        if order.spec.parent_id:
            parent = self._orders[OrderKey(order.key.client_id, order.spec.parent_id)]
            if parent.status is not OrderStatus.FILLED:
                return
        order.status = OrderStatus.WORKING
        self._emit_update(order)
        self._evaluate(order)

    def _evaluate(self, order: OrderRecord) -> None:
        if order.status is not OrderStatus.WORKING:
            return
        quote = self.market.snapshot(order.contract, self.now())
        price = None
        if quote is not None:
            price = execution_price(order.contract, order.spec, order.stop, quote)
        if price is not None:
            self._fill(order, price)
        elif order.spec.tif is TimeInForce.IOC:
            self._cancel(order, "immediate-or-cancel order could not fill at once")

    def _fill(self, order: OrderRecord, price: Decimal) -> None:
        quantity = order.spec.quantity - order.filled
        contract = order.contract
        commission = self._commissions.commission(contract, quantity, price)
        realized = self._ledgers[order.account].apply_fill(
            contract, order.spec.side, quantity, price, commission
        )
        order.filled += quantity
        order.notional += quantity * price
        order.last_fill_price = price
        order.status = OrderStatus.FILLED
        report = ExecutionReport(
            exec_id=self._execution_ids.next(),
            key=order.key,
            perm_id=order.perm_id,
            contract=contract,
            account=order.account,
            side=order.spec.side,
            quantity=quantity,
            price=price,
            time=self.now(),
            cum_qty=order.filled,
            avg_price=order.notional / order.filled,
            commission=commission,
            realized_pnl=realized,
            order_ref=order.spec.order_ref,
        )
        self._executions.append(report)
        self._emit(OrderExecuted(report))
        self._emit_update(order)
        self._after_fill(order)

    def _after_fill(self, order: OrderRecord) -> None:
        client = order.key.client_id
        for other in self._live():
            same_client = other.key.client_id == client
            if same_client and other.spec.parent_id == order.key.order_id:
                self._activate(other)
            elif same_client and order.spec.parent_id and (
                other.spec.parent_id == order.spec.parent_id
            ):
                self._cancel(other, "bracket sibling filled")
            elif order.spec.oca_group and other.spec.oca_group == order.spec.oca_group:
                self._cancel(other, f"OCA group {order.spec.oca_group} member filled")

    def _cancel(self, order: OrderRecord, reason: str) -> None:
        if order.status.is_done:
            return
        order.status = OrderStatus.CANCELLED
        order.reason = reason
        self._emit_update(order)
        for child in self._live():
            if child.key.client_id == order.key.client_id and (
                child.spec.parent_id == order.key.order_id
            ):
                self._cancel(child, f"parent order {order.key.order_id} cancelled")
