"""The control API over a real socket: uvicorn serving `build_control_app` in the test's event
loop, httpx as the client. One account on the fake broker (long 10 AAPL, two working limit
orders) behind a gate with an in-memory audit log and trading control."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import jsonschema
import pytest

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.trading_control import InMemoryTradingControl
from ordergate.adapters.http.app import build_control_app
from ordergate.adapters.http.server import ControlServer, ServerStartError
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderIntent, OrderRequest, OrderType
from ordergate.domain.risk.decision import TradingState
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId

T0 = datetime(2024, 1, 9, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
AAPL = Stock("AAPL")
TOKEN = "s3cret-token-for-tests"
TIMEOUT = 5.0

WRITES = [
    "/halt",
    "/reduce",
    "/resume",
    "/kill",
    "/flatten",
    "/cancel/TP-1",
    "/reconcile",
]
READS = ["/status", "/positions", "/orders", "/fills", "/pnl", "/decisions", "/reconcile"]


class Account:
    """The fake broker's account, its audit store and trading control, outliving the gate."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)
        self.broker = FakeBroker(self.clock, [AAPL])
        self.market = FakeMarketData(self.clock, [AAPL])
        self.store = MemoryAuditStore()
        self.control = InMemoryTradingControl()
        self.audit = InMemoryAuditLog(self.store, clock=self.clock)

    def gate(self) -> OrderGate:
        ports = Ports(
            self.broker, self.market, self.audit, self.clock, InMemoryPublisher(), self.control
        )
        return OrderGate(ports, GateOptions(operator_id="APITEST"))

    def price(self, px: str) -> None:
        self.market.set_price(AAPL, Decimal(px))
        self.broker.set_price(AAPL, Decimal(px))

    async def kinds(self) -> list[str]:
        return [e.record.kind for e in await self.audit.query()]

    async def payloads(self, kind: str) -> list[dict[str, Any]]:
        return [dict(e.record.payload) for e in await self.audit.query(kind=kind)]

    async def broker_state(self) -> tuple[list[str], dict[str, Decimal]]:
        orders = sorted(v.client_order_id.value for v in await self.broker.open_orders(timeout=1))
        held = {p.instrument_id.value: p.quantity for p in await self.broker.positions(timeout=1)}
        return orders, held


def request(cid: str, side: Side, qty: int, kind: OrderType, px: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=ClientOrderId(cid),
        instrument=AAPL,
        side=side,
        quantity=Decimal(qty),
        order_type=kind,
        limit_price=None if px is None else Decimal(px),
        intent=OrderIntent.OPEN,
    )


@pytest.fixture
async def account() -> Account:
    return Account()


@pytest.fixture
async def gate(account: Account) -> AsyncIterator[OrderGate]:
    account.price("100")
    async with account.gate() as gate:
        await gate.submit_request(request("BUY-1", Side.BUY, 10, OrderType.MARKET))
        await gate.settle()
        await gate.submit_request(request("TP-1", Side.SELL, 10, OrderType.LIMIT, "110"))
        await gate.submit_request(request("DIP-1", Side.BUY, 5, OrderType.LIMIT, "90"))
        await gate.settle()
        yield gate


@pytest.fixture
async def client(gate: OrderGate) -> AsyncIterator[httpx.AsyncClient]:
    app = build_control_app(gate, token=TOKEN, broker_kind="fake", account_id="DU1")
    async with (
        ControlServer(app, host="127.0.0.1", port=0) as server,
        httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http,
    ):
        yield http


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


BODY = {"operator": "alice", "reason": "drill"}


# -- 401: every write, without a token or with a wrong one, changes nothing ----------------------
@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth("wrong-token"),
        auth(TOKEN[:-1]),
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "prefix", "no-scheme", "basic", "empty"],
)
async def test_a_write_without_the_right_token_gets_401_and_changes_nothing(
    client: httpx.AsyncClient,
    gate: OrderGate,
    account: Account,
    path: str,
    headers: dict[str, str],
) -> None:
    before_kinds = await account.kinds()
    before_broker = await account.broker_state()
    before_control = await account.control.read()
    before_state = (gate.trading_state, gate.kill_switch_engaged)

    answer = await client.post(path, json=BODY, headers=headers)

    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"] == "unauthorized"
    assert answer.json()["field"] == "Authorization"
    await gate.settle()
    assert (gate.trading_state, gate.kill_switch_engaged) == before_state
    assert await account.broker_state() == before_broker
    assert await account.control.read() == before_control
    assert await account.kinds() == before_kinds


async def test_a_401_comes_before_the_body_is_read(
    client: httpx.AsyncClient, account: Account
) -> None:
    before = await account.kinds()
    answer = await client.post("/halt", content=b"{not json", headers={"X": "y"})
    assert answer.status_code == 401
    assert await account.kinds() == before


# -- writes with the token -------------------------------------------------------------------
async def test_halt_with_the_token_halts_persists_and_audits_the_operator(
    client: httpx.AsyncClient, gate: OrderGate, account: Account
) -> None:
    answer = await client.post("/halt", json=BODY, headers=auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "ok"
    assert answer.json()["trading_state"] == "HALTED"
    assert gate.trading_state is TradingState.HALTED
    stored = await account.control.read()
    assert stored is not None
    assert stored.state is TradingState.HALTED
    assert "alice" in stored.reason
    [asked] = await account.payloads("control.request")
    assert (asked["operator"], asked["endpoint"], asked["reason"]) == ("alice", "halt", "drill")
    [done] = await account.payloads("control.result")
    assert (done["operator"], done["endpoint"], done["outcome"]) == ("alice", "halt", "ok")
    kinds = await account.kinds()
    assert kinds.index("control.request") < kinds.index("trading.request")
    # a new-risk signal is now denied by the gate
    [denied] = await gate.submit_signal(
        Signal(SignalId("S-H"), AAPL, Side.BUY, T0, quantity=Decimal(1))
    )
    assert denied.status.value == "DENIED"


async def test_reduce_while_killed_is_a_409_and_audited_as_refused(
    client: httpx.AsyncClient, gate: OrderGate, account: Account
) -> None:
    killed = await client.post("/kill", json=BODY, headers=auth())
    assert killed.status_code == 200, killed.text
    assert killed.json()["kill_switch"] is True
    assert sorted(v["client_order_id"] for v in killed.json()["cancelled"]) == ["DIP-1", "TP-1"]
    assert await account.broker_state() == ([], {})
    refused = await client.post("/reduce", json=BODY, headers=auth())
    assert refused.status_code == 409
    assert refused.json()["error"] == "conflict"
    outcomes = [(p["endpoint"], p["outcome"]) for p in await account.payloads("control.result")]
    assert outcomes == [("kill", "ok"), ("reduce", "refused")]
    resumed = await client.post("/resume", json={"operator": "bob"}, headers=auth())
    assert resumed.status_code == 200
    assert (resumed.json()["trading_state"], resumed.json()["kill_switch"]) == ("ACTIVE", False)


async def test_cancel_cancels_one_order_and_an_unknown_id_is_a_404_naming_the_field(
    client: httpx.AsyncClient, gate: OrderGate, account: Account
) -> None:
    answer = await client.post("/cancel/TP-1", json=BODY, headers=auth())
    assert answer.status_code == 200, answer.text
    await gate.settle()
    assert (await account.broker_state())[0] == ["DIP-1"]
    missing = await client.post("/cancel/NOPE-1", json=BODY, headers=auth())
    assert missing.status_code == 404
    assert missing.json()["field"] == "client_order_id"
    assert (await account.broker_state())[0] == ["DIP-1"]


async def test_flatten_cancels_and_closes_through_the_gate(
    client: httpx.AsyncClient, gate: OrderGate, account: Account
) -> None:
    answer = await client.post("/flatten", json=BODY, headers=auth())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "ok"
    [closure] = body["closures"]
    assert closure["status"] in {"SUBMITTED", "FILLED"}
    assert await account.broker_state() == ([], {})
    # the closure went through the gate: a risk decision was audited before its submit
    kinds = await account.kinds()
    last_decision = len(kinds) - 1 - kinds[::-1].index("risk.decision")
    assert last_decision < len(kinds) - 1 - kinds[::-1].index("broker.submit")


# -- bad requests ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "operator"),
        ({"operator": ""}, "operator"),
        ({"operator": "a b"}, "operator"),
        ({"operator": "x" * 65}, "operator"),
        ({"operator": "alice", "reason": "x" * 257}, "reason"),
        ({"operator": "alice", "reason": "two\nlines"}, "reason"),
        ({"operator": "alice", "extra": 1}, "extra"),
        ({"operator": 5}, "operator"),
    ],
)
async def test_a_bad_body_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, gate: OrderGate, account: Account, body: Any, field: str
) -> None:
    before = await account.kinds()
    answer = await client.post("/halt", json=body, headers=auth())
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert field in answer.json()["message"]
    assert gate.trading_state is TradingState.ACTIVE
    assert await account.kinds() == before


async def test_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/halt", content=b"{nope", headers={**auth(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == "body"


@pytest.mark.parametrize(
    ("query", "field"),
    [("since=yesterday", "since"), ("since=2024-01-09T10:00:00", "since"), ("limit=0", "limit")],
)
async def test_a_bad_query_is_a_422_naming_it(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    answer = await client.get(f"/decisions?{query}")
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


# -- reads -----------------------------------------------------------------------------------
async def test_the_reads_show_the_account(client: httpx.AsyncClient) -> None:
    status = (await client.get("/status")).json()
    assert status["service"] == "ordergate"
    assert status["trading"] == {
        "state": "ACTIVE", "reason": "", "changed_at": None, "kill_switch": False
    }  # fmt: skip
    assert status["counts"]["working_orders"] == 2
    assert status["connection"]["broker_connected"] is True
    assert {b["name"] for b in status["breakers"]} >= {"daily_loss", "drawdown"}
    [position] = (await client.get("/positions")).json()
    assert (position["instrument"], Decimal(position["quantity"])) == ("AAPL", 10)
    [held] = (await client.get("/positions?source=broker")).json()
    assert Decimal(held["quantity"]) == 10
    orders = (await client.get("/orders")).json()
    assert sorted(o["client_order_id"] for o in orders) == ["DIP-1", "TP-1"]
    assert len((await client.get("/orders?all=true")).json()) == 3
    [fill] = (await client.get("/fills")).json()
    assert fill["payload"]["client_order_id"] == "BUY-1"
    decisions = (await client.get("/decisions")).json()
    assert len(decisions) == 3
    later = (await client.get("/decisions", params={"since": "2030-01-01T00:00:00Z"})).json()
    assert later == []
    pnl = (await client.get("/pnl")).json()
    assert Decimal(pnl["starting_cash"]) == 100_000
    reconcile = (await client.get("/reconcile")).json()
    assert reconcile["dry_run"] is True


# -- OpenAPI ---------------------------------------------------------------------------------
async def test_openapi_describes_every_route_and_the_bearer_scheme(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    for path in READS:
        assert "get" in paths[path], path
    for path in WRITES:
        key = "/cancel/{client_order_id}" if path.startswith("/cancel") else path
        operation = paths[key]["post"]
        assert operation["security"] == [{"HTTPBearer": []}], key
        assert "401" in operation["responses"], key
        assert "requestBody" in operation, key
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_real_answers_validate_against_their_openapi_schemas(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    def check(path: str, method: str, code: str, value: Any) -> None:
        schema = document["paths"][path][method]["responses"][code]["content"]["application/json"][
            "schema"
        ]
        wrapped = {**schema, "components": document["components"]}
        jsonschema.validate(value, wrapped)  # its $refs resolve in `components`

    check("/status", "get", "200", (await client.get("/status")).json())
    check("/positions", "get", "200", (await client.get("/positions")).json())
    check("/orders", "get", "200", (await client.get("/orders")).json())
    check("/decisions", "get", "200", (await client.get("/decisions")).json())
    check("/halt", "post", "401", (await client.post("/halt", json=BODY)).json())
    check("/halt", "post", "422", (await client.post("/halt", json={}, headers=auth())).json())
    check("/halt", "post", "200", (await client.post("/halt", json=BODY, headers=auth())).json())


# -- the server ------------------------------------------------------------------------------
async def test_a_taken_port_is_a_typed_error_naming_service_port(gate: OrderGate) -> None:
    app = build_control_app(gate, token=TOKEN, broker_kind="fake")
    async with ControlServer(app, host="127.0.0.1", port=0) as first:
        second = ControlServer(app, host="127.0.0.1", port=first.port)
        with pytest.raises(ServerStartError, match=r"service\.port"):
            await second.start()


async def test_the_openapi_document_lists_exactly_the_api_routes_each_with_a_summary(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    described = {(method, path) for path, ops in document["paths"].items() for method in ops}
    expected = {("get", path) for path in READS} | {
        ("post", "/cancel/{client_order_id}" if path.startswith("/cancel") else path)
        for path in WRITES
    }
    assert described == expected
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert "200" in operation["responses"], (method, path)
            assert "422" in operation["responses"], (method, path)
