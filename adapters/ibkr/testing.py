"""Harnesses that let the port contract suites drive the IBKR adapter over a real loopback socket
against the TWS gateway emulator.

`IbkrBrokerHarness` (a `BrokerHarness`) and `IbkrMarketDataHarness` (a `MarketDataHarness`)
start a `RecordingGatewayServer` on 127.0.0.1 port 0 in front of a `HarnessEngine`, connect the
adapter with unmodified ib_async, and implement the controls by driving the engine and the
emulator's faults — never by reaching into the adapter. Build with `await X.create()`, always
`await close()`. Test and demo use only; nothing here may run against a real gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from ordergate.adapters.gateway_sim import GatewayServer
from ordergate.adapters.gateway_sim.catalogue import third_fridays
from ordergate.adapters.gateway_sim.session import ClientSession
from ordergate.adapters.ibkr.broker import IbkrBroker
from ordergate.adapters.ibkr.connection import DIAGNOSTIC_CLIENT_ID, IbkrConfig
from ordergate.adapters.ibkr.harness_engine import HarnessClock, HarnessEngine
from ordergate.adapters.ibkr.health import BackoffPolicy
from ordergate.adapters.ibkr.market_data import IbkrMarketData
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.market import Bar
from ordergate.ports.broker import Broker
from ordergate.ports.market_data import MarketData

__all__ = [
    "HARNESS_ACCOUNT",
    "HARNESS_START",
    "IbkrBrokerHarness",
    "IbkrMarketDataHarness",
    "RecordingGatewayServer",
    "harness_config",
]

HARNESS_START = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
"""10:00 in New York on a Tuesday: inside regular trading hours, a session close ahead."""
HARNESS_ACCOUNT = "DU1234567"
_CONNECT_TIMEOUT = 10.0
_SETTLE_TIMEOUT = 10.0


class RecordingGatewayServer(GatewayServer):
    """The emulator, recording every request it receives as (client id, fields) — so a test
    can prove what did (and did not) go over the wire."""

    def __init__(self, engine: HarnessEngine, **options: object) -> None:
        super().__init__(engine, **options)  # type: ignore[arg-type]
        self.requests: list[tuple[int | None, tuple[str, ...]]] = []

    def _dispatch(self, session: ClientSession, fields: list[str]) -> None:
        self.requests.append((session.client_id, tuple(fields)))
        super()._dispatch(session, fields)

    def received(self, message_id: int) -> list[tuple[str, ...]]:
        """The fields of every request with this TWS message id (3 placeOrder, 1 reqMktData)."""
        return [f for _, f in self.requests if f and f[0] == str(message_id)]

    def market_data_subscriptions(self) -> dict[int, dict[int, int]]:
        """Streaming market-data subscriptions the emulator holds, per client id."""
        return {cid: dict(s.subscriptions.market_data) for cid, s in self.sessions.items()}


def harness_config(port: int, **overrides: object) -> IbkrConfig:
    """The adapter configuration the harnesses use: loopback, short backoff, operator `CT`."""
    options: dict[str, object] = {
        "operator_id": "CT",
        "host": "127.0.0.1",
        "port": port,
        "connect_timeout": 5.0,
        "backoff": BackoffPolicy(initial=0.1, cap=1.0, attempts=20),
        "commission_grace": 0.5,
    }
    options.update(overrides)
    return IbkrConfig(**options)  # type: ignore[arg-type]


def harness_instruments(start: datetime) -> tuple[Stock, OptionContract, Stock]:
    """(stock, option, unknown): AAPL, an at-the-money AAPL call listed by the emulator, ZZZZ."""
    expiry = third_fridays(start.date(), 1)[0]
    option = OptionContract("AAPL", expiry, Decimal(190), OptionRight.CALL)
    return Stock("AAPL"), option, Stock("ZZZZ")


class _EmulatorHarness:
    """What both harnesses share: the clock, the engine, the server and the stall control."""

    def __init__(self, engine: HarnessEngine, server: RecordingGatewayServer) -> None:
        self.engine = engine
        self.server = server
        self.stock, self.option, self.unknown = harness_instruments(engine.now())
        self._unstall: asyncio.TimerHandle | None = None

    @staticmethod
    async def _serve(start: datetime) -> tuple[HarnessEngine, RecordingGatewayServer]:
        engine = HarnessEngine(HarnessClock(start), accounts=(HARNESS_ACCOUNT,))
        server = RecordingGatewayServer(engine, host="127.0.0.1", port=0)
        await server.start()
        return engine, server

    async def stall(self, seconds: float) -> None:
        """Every message the emulator sends in the next `seconds` is delayed by `seconds`."""
        if self._unstall is not None:
            self._unstall.cancel()
        self.server.delay_responses(seconds)
        loop = asyncio.get_running_loop()
        self._unstall = loop.call_later(seconds, self.server.delay_responses, 0)

    async def now(self) -> datetime:
        """The emulator's clock."""
        return self.engine.now()

    async def _close_server(self) -> None:
        if self._unstall is not None:
            self._unstall.cancel()
        self.server.delay_responses(0)
        self.server.close()
        await self.server.wait_closed()


class IbkrBrokerHarness(_EmulatorHarness):
    """A connected `IbkrBroker` (client id 1) against the emulator."""

    def __init__(
        self, engine: HarnessEngine, server: RecordingGatewayServer, broker: IbkrBroker
    ) -> None:
        super().__init__(engine, server)
        self.ibkr = broker
        self.broker: Broker = broker

    @classmethod
    async def create(
        cls, start: datetime = HARNESS_START, **config: object
    ) -> IbkrBrokerHarness:
        """Start the emulator and connect the adapter (`config` overrides `harness_config`)."""
        engine, server = await cls._serve(start)
        broker = IbkrBroker(harness_config(server.port, **config))
        try:
            await broker.connect(timeout=_CONNECT_TIMEOUT)
        except BaseException:
            await broker.close()
            server.close()
            await server.wait_closed()
            raise
        return cls(engine, server, broker)

    async def set_price(self, instrument: Instrument, price: Decimal) -> None:
        """The market trades at `price`; marketable working orders fill."""
        self.engine.set_price(self.engine.con_id(instrument), price)

    async def set_fill_limit(self, quantity: Decimal | None) -> None:
        """Cap the quantity filled per price update (partial fills)."""
        self.engine.fill_limit = quantity

    async def reject_next(self, reason: str) -> None:
        """The emulator answers the next placeOrder with error 201."""
        self.server.reject_next_order(reason)

    async def advance(self, seconds: float) -> None:
        """Time passes at the emulator; DAY/GTD orders past their end expire."""
        self.engine.advance(seconds)

    async def settle(self) -> None:
        """Wait until the adapter has published everything the emulator sent so far."""
        await self.ibkr.sync(timeout=_SETTLE_TIMEOUT)

    async def close(self) -> None:
        """Disconnect the adapter and stop the emulator."""
        await self.ibkr.close()
        await self._close_server()


class IbkrMarketDataHarness(_EmulatorHarness):
    """An `IbkrMarketData` on its own connection (client id 2) against the emulator."""

    def __init__(
        self, engine: HarnessEngine, server: RecordingGatewayServer, market_data: IbkrMarketData
    ) -> None:
        super().__init__(engine, server)
        self.ibkr = market_data
        self.market_data: MarketData = market_data

    @classmethod
    async def create(cls, start: datetime = HARNESS_START) -> IbkrMarketDataHarness:
        """Start the emulator and connect the market-data adapter."""
        engine, server = await cls._serve(start)
        config = harness_config(server.port, client_id=DIAGNOSTIC_CLIENT_ID, operator_id="MD")
        market_data = IbkrMarketData.from_config(config)
        try:
            await market_data.connect(timeout=_CONNECT_TIMEOUT)
        except BaseException:
            await market_data.close()
            server.close()
            await server.wait_closed()
            raise
        return cls(engine, server, market_data)

    async def set_quote(self, instrument: Instrument, price: Decimal, age_seconds: float) -> None:
        """bid = ask = last = `price`, last traded `age_seconds` ago."""
        con_id = self.engine.con_id(instrument)
        self.engine.set_price(con_id, price)
        self.engine.set_quote_age(con_id, age_seconds)

    async def set_bars(self, instrument: Instrument, bars: Sequence[Bar]) -> None:
        """The emulator's history for `instrument`."""
        self.engine.set_history(self.engine.con_id(instrument), bars)

    async def close(self) -> None:
        """Disconnect and stop the emulator."""
        await self.ibkr.close()
        await self._close_server()
