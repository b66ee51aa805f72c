"""The test rig shared by the SimGatewayEngine tests: a small replayed session (AAPL, MSFT), the
engine over it, and builders for contracts, orders and what the listeners saw."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from ordergate.adapters.gateway_sim.engine import (
    EngineEvent,
    EngineRefusal,
    OrderExecuted,
    OrderUpdated,
    RefusalReason,
)
from ordergate.adapters.gateway_sim.engine_types import (
    ContractQuery,
    ContractSpec,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    SecType,
)
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.sim.session import SimSession, atm_call
from ordergate.domain.instruments import OptionContract, Stock
from ordergate.domain.values import Side

D = Decimal
DAYS = 8


def build(**options: Any) -> SimSession:
    return SimSession.build(["AAPL", "MSFT"], bars=DAYS, seed=7, **options)


def listen(engine: SimGatewayEngine) -> list[EngineEvent]:
    """Every event `engine` emits from now on."""
    seen: list[EngineEvent] = []
    engine.add_listener(seen.append)
    return seen


def stock(engine: SimGatewayEngine, symbol: str) -> ContractSpec:
    (spec,) = engine.qualify(ContractQuery(symbol=symbol, sec_type=SecType.STOCK))
    return spec


def last(engine: SimGatewayEngine, spec: ContractSpec) -> Decimal:
    quote = engine.snapshot(spec.con_id)
    assert quote is not None
    assert quote.last is not None
    return quote.last


def option_query(contract: OptionContract) -> ContractQuery:
    return ContractQuery(
        symbol=contract.underlying, sec_type=SecType.OPTION, expiry=contract.expiry,
        strike=contract.strike, right=contract.right, exchange="SMART", currency="USD",
    )


def atm(engine: SimGatewayEngine) -> OptionContract:
    aapl = stock(engine, "AAPL")
    contract = atm_call(Stock("AAPL"), last(engine, aapl), engine.now())
    assert contract is not None
    return contract


def listed_call(engine: SimGatewayEngine) -> ContractSpec:
    (spec,) = engine.qualify(option_query(atm(engine)))
    return spec


def ref(cid: str) -> str:
    return f"CT:{cid}"


def market(side: Side, qty: int, cid: str, **kw: Any) -> OrderSpec:
    return OrderSpec(side, D(qty), order_ref=ref(cid), **kw)


def limit(side: Side, qty: int, price: Decimal, cid: str, **kw: Any) -> OrderSpec:
    return OrderSpec(side, D(qty), OrderType.LIMIT, limit_price=price, order_ref=ref(cid), **kw)


def updates(events: list[EngineEvent], key: OrderKey) -> list[OrderStatus]:
    return [e.order.status for e in events if isinstance(e, OrderUpdated) and e.order.key == key]


def kinds(events: list[EngineEvent]) -> list[str]:
    out = []
    for e in events:
        if isinstance(e, OrderUpdated):
            out.append(f"U{e.order.key.order_id}:{e.order.status.value}")
        elif isinstance(e, OrderExecuted):
            out.append(f"X{e.execution.key.order_id}")
        else:
            out.append(f"R{e.key.order_id}")
    return out


class SubmitRecorder:
    """Records the submit calls made to a matching engine from outside it (its `submit_list`
    calls its own `submit` once per member)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._depth = 0

    def wrap(self, name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any) -> Any:
            if self._depth == 0:
                self.calls.append((name, args[0]))
            self._depth += 1
            try:
                return target(*args)
            finally:
                self._depth -= 1

        return record


def refusal(call: Callable[[], object]) -> RefusalReason:
    with pytest.raises(EngineRefusal) as caught:
        call()
    return caught.value.reason
