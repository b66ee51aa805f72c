"""`IbkrMarketData`: the `MarketData` port on IB — snapshot quotes and bounded historical bars.

Alpha learnings enforced here: quotes are one-shot snapshots (`reqMktData(..., snapshot=True)`;
the ticker is dropped afterwards, so no streaming subscription is ever left open); a historical
request of intraday bars covers at most one hour of regular-trading-hours bars (daily bars: a
year, since IB's pacing limits concern small bars), and a longer or non-RTH request raises
`InvalidValue` naming the limit before anything is sent; every call is bounded by its
`timeout`; instruments are qualified first. It must never call `reqMktData` with
`snapshot=False` and never return floats.

Daily history is fetched once and then extended: the daily bars received for an instrument are
kept (`_DailyHistory`), and a later request asks IB only for the days from the last bar kept
(that bar is fetched again, as it may have been the session in progress) to the new end; the
answer is then cut from what is kept. A request reaching further back than what is kept fetches
its whole span again. Intraday bars are never kept.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from ib_async import Contract
from ib_async.objects import BarDataList
from ib_async.ticker import Ticker
from ib_async.wrapper import RequestError

from ordergate.adapters.ibkr import parsing
from ordergate.adapters.ibkr.connection import IbkrConfig, IbkrConnection, bounded
from ordergate.adapters.ibkr.contracts import ContractBook
from ordergate.domain.errors import BrokerError, BrokerRejected, InvalidValue
from ordergate.domain.instruments import Instrument
from ordergate.domain.market import Bar, Quote
from ordergate.domain.values import check_utc

__all__ = ["IbkrMarketData"]

_NO_DATA = "returned no data"
_DAY = timedelta(days=1)


class _DailyHistory:
    """The daily bars received for one instrument: every session from `start` on, oldest
    first, as of the last request (whose last bar may have been a session in progress)."""

    __slots__ = ("bars", "start")

    def __init__(self, start: datetime, bars: list[Bar]) -> None:
        self.start = start
        self.bars = bars

    def extend(self, fetched_from: datetime, bars: list[Bar]) -> None:
        """Replace the bars from `fetched_from` on with `bars` (a fresh fetch of that span)."""
        kept = [b for b in self.bars if b.ts < fetched_from]
        self.bars = kept + [b for b in bars if b.ts >= fetched_from]

    def window(self, start: datetime, end: datetime) -> list[Bar]:
        return [b for b in self.bars if start <= b.ts < end]


class IbkrMarketData:
    """Snapshot quotes and ≤ 1 h RTH bars over an `IbkrConnection` (shared with an
    `IbkrBroker` through `from_broker`, or its own through `from_config`)."""

    def __init__(self, connection: IbkrConnection, contracts: ContractBook | None = None) -> None:
        self.connection = connection
        self.contracts = contracts or ContractBook(connection)
        self._owns_connection = contracts is None
        self._daily: dict[object, _DailyHistory] = {}
        self.history_requests = 0
        """Historical-data requests sent so far (daily ones extend what is kept)."""

    @classmethod
    def from_broker(cls, broker: object) -> IbkrMarketData:
        """Market data on an `IbkrBroker`'s connection and qualification cache."""
        return cls(broker.connection, broker.contracts)  # type: ignore[attr-defined]

    @classmethod
    def from_config(cls, config: IbkrConfig) -> IbkrMarketData:
        """Market data on its own connection (use a client id of its own, e.g. 2)."""
        return cls(IbkrConnection(config))

    async def connect(self, *, timeout: float) -> None:
        """Connect (only needed for a connection of its own)."""
        await self.connection.connect(timeout=timeout)

    async def close(self) -> None:
        """Disconnect a connection of its own (a broker's connection is the broker's to close)."""
        if self._owns_connection:
            await self.connection.disconnect()

    async def quote(self, instrument: Instrument, *, timeout: float) -> Quote:
        """A snapshot quote; `ts` is IB's last-trade time (when IB sends one)."""
        return await bounded(self._quote(instrument, timeout), timeout, f"quote {instrument.id}")

    async def _quote(self, instrument: Instrument, timeout: float) -> Quote:
        contract, qualified = await self.contracts.qualify(instrument, timeout=timeout)
        ticker = await self._snapshot(contract, timeout)
        return parsing.quote_from_ticker(ticker, qualified, datetime.now(UTC))

    async def _snapshot(self, contract: Contract, timeout: float) -> Ticker:
        ib = self.connection.ib
        wrapper = ib.wrapper
        wrapper.tickers.pop(hash(contract), None)  # a fresh ticker: no values from an old one
        req_id = ib.client.getReqId()
        future = wrapper.startReq(req_id, contract)  # type: ignore[no-untyped-call]
        ticker = wrapper.startTicker(req_id, contract, "snapshot")
        # snapshot=True, always: a streaming subscription is never opened (alpha learning)
        ib.client.reqMktData(  # type: ignore[no-untyped-call]
            req_id, contract, "", True, False, [])
        try:
            await bounded(future, timeout, f"snapshot of {contract.symbol}")
        except RequestError as exc:
            raise BrokerRejected(
                f"no quote for {contract.symbol}: {exc.message}", exc.code) from None
        except BaseException:  # timed out or cancelled: tell IB to drop the request too
            if ib.isConnected():
                ib.client.cancelMktData(req_id)  # type: ignore[no-untyped-call]
            raise
        finally:
            wrapper.endTicker(ticker, "snapshot")
            wrapper.tickers.pop(hash(contract), None)
            wrapper.reqId2Ticker.pop(req_id, None)
        return ticker  # type: ignore[no-any-return]

    async def bars(
        self,
        instrument: Instrument,
        *,
        end: datetime,
        duration: timedelta,
        bar_size: timedelta = timedelta(minutes=1),
        rth_only: bool = True,
        timeout: float,
    ) -> list[Bar]:
        """Bars starting in `[end - duration, end)`, oldest first, RTH only; intraday bars at
        most one hour, daily bars (`bar_size` one day, dated by the session's open) a year."""
        check_utc("bars.end", end)
        if duration <= timedelta(0):
            raise InvalidValue("bars.duration", duration, "must be positive")
        daily = bar_size == _DAY
        if daily and duration > parsing.MAX_DAILY_HISTORY:
            raise InvalidValue(
                "bars.duration", duration,
                f"a request of daily bars covers at most {parsing.MAX_DAILY_HISTORY.days} days",
            )
        if not daily and duration > parsing.MAX_HISTORY:
            raise InvalidValue(
                "bars.duration", duration,
                "IB historical requests are limited to 1 hour of RTH bars (alpha learning: "
                "longer requests hit pacing limits); split the window into hours",
            )
        if not rth_only:
            raise InvalidValue(
                "bars.rth_only", rth_only,
                "only regular-trading-hours bars are requested from IB (alpha learning)",
            )
        size_text = parsing.bar_size_text(bar_size)
        return await bounded(
            self._bars(instrument, end, duration, bar_size, size_text=size_text,
                       timeout=timeout),
            timeout, f"bars of {instrument.id}",
        )

    async def _bars(
        self,
        instrument: Instrument,
        end: datetime,
        duration: timedelta,
        bar_size: timedelta,
        *,
        size_text: str,
        timeout: float,
    ) -> list[Bar]:
        start = end - duration
        if bar_size != _DAY:
            return await self._fetch(instrument, end, duration, bar_size, size_text=size_text,
                                     timeout=timeout)
        key = instrument.id
        history = self._daily.get(key)
        if history is None or start < history.start:
            bars = await self._fetch(instrument, end, duration, bar_size, size_text=size_text,
                                     timeout=timeout)
            self._daily[key] = _DailyHistory(start, bars)
            return list(bars)
        last = history.bars[-1].ts if history.bars else history.start
        if last < end:
            # From the last bar kept (it may have been the session in progress) to `end`.
            fetched = await self._fetch(instrument, end, end - last, bar_size,
                                        size_text=size_text, timeout=timeout)
            history.extend(last, fetched)
        return history.window(start, end)

    async def _fetch(
        self,
        instrument: Instrument,
        end: datetime,
        duration: timedelta,
        bar_size: timedelta,
        *,
        size_text: str,
        timeout: float,
    ) -> list[Bar]:
        """One historical request: the bars of `bar_size` starting in `[end - duration, end)`."""
        contract, qualified = await self.contracts.qualify(instrument, timeout=timeout)
        self.history_requests += 1
        ib = self.connection.ib
        req_id = ib.client.getReqId()
        container = BarDataList()  # type: ignore[no-untyped-call]
        container.reqId = req_id
        future = ib.wrapper.startReq(  # type: ignore[no-untyped-call]
            req_id, contract, container=container)
        if bar_size == _DAY:
            span = f"{math.ceil(duration / _DAY)} D"
        else:
            span = f"{math.ceil(duration.total_seconds())} S"
        ib.client.reqHistoricalData(  # type: ignore[no-untyped-call]
            req_id, contract, parsing.ib_time(end), span, size_text, "TRADES",
            True, 2, False, [],
        )
        try:
            received = await future
        except RequestError as exc:
            if exc.code == 162 and _NO_DATA in exc.message:
                return []
            if exc.code == 200:
                raise BrokerRejected(
                    f"IB does not know {instrument.id}: {exc.message}", 200) from None
            raise BrokerError(
                f"historical bars of {instrument.id}: [{exc.code}] {exc.message}") from None
        except BaseException:
            if ib.isConnected():
                ib.client.cancelHistoricalData(req_id)  # type: ignore[no-untyped-call]
            raise
        start = end - duration
        bars = [parsing.bar_from_ib(b, qualified, bar_size) for b in received]
        return [b for b in bars if start <= b.ts < end]
