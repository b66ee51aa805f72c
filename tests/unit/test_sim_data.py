"""Bundled daily bars, the CSV bar and tick loaders, the synthetic intraday generator and the
sim clock."""

from __future__ import annotations

import asyncio
import gzip
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.adapters.sim.bars import (
    SimBar,
    load_bundled_daily_bars,
    load_daily_bars_csv,
)
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.replay import Replay, merge_series
from ordergate.adapters.sim.synthetic import BARS_PER_SESSION, SyntheticIntraday
from ordergate.adapters.sim.ticks import load_ticks_csv
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import NEW_YORK, Stock
from ordergate.domain.market import Bar
from ordergate.domain.orders import ExecutionFill, OrderRequest, OrderType
from ordergate.domain.values import ClientOrderId, InstrumentId, Side

START = datetime(2024, 1, 2, 15, tzinfo=UTC)


@pytest.mark.parametrize("symbol", ["AAPL", "MSFT", "IBM"])
def test_bundled_daily_bars_cover_2000_to_2013(symbol: str) -> None:
    bars = load_bundled_daily_bars(symbol)
    assert 3270 == len(bars)
    first, last = bars[0].ts.astimezone(NEW_YORK), bars[-1].end.astimezone(NEW_YORK)
    assert (date(2000, 3, 1), time(9, 30)) == (first.date(), first.time())
    assert (date(2013, 3, 1), time(16, 0)) == (last.date(), last.time())


def test_bundled_bar_is_the_real_quandl_row() -> None:
    bar = load_bundled_daily_bars("AAPL")[0].to_bar()
    assert (Decimal("118.56"), Decimal("132.06"), Decimal("118.5"), Decimal("130.31")) == (
        bar.open, bar.high, bar.low, bar.close)
    assert Decimal(9616100) == bar.volume


def test_only_bundled_symbols_load() -> None:
    with pytest.raises(InvalidValue):
        load_bundled_daily_bars("GOOG")


def test_csv_loader_reads_a_plain_or_gzipped_file(tmp_path: Path) -> None:
    text = (
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-03,10,11,9,10.5,100\n"
        "2024-01-02,9,10,8,9.5,50\n"
    )
    plain, zipped = tmp_path / "x.csv", tmp_path / "x.csv.gz"
    plain.write_text(text)
    zipped.write_bytes(gzip.compress(text.encode()))
    for path in (plain, zipped):
        bars = load_daily_bars_csv(path, "XYZ")
        assert [date(2024, 1, 2), date(2024, 1, 3)] == [b.ts.date() for b in bars]
        assert InstrumentId("XYZ") == bars[0].instrument_id


def test_sim_bar_round_trips_a_domain_bar() -> None:
    bar = Bar(InstrumentId("X"), START, Decimal("1.2345"), Decimal(2), Decimal(1), Decimal("1.5"),
              Decimal(7))
    assert bar == SimBar.from_bar(bar).to_bar()


def test_synthetic_bars_are_the_same_for_the_same_seed_and_differ_otherwise() -> None:
    def make(seed: int) -> list[SimBar]:
        return SyntheticIntraday(InstrumentId("SYN"), seed).bars(800)

    assert [repr(b) for b in make(1)] == [repr(b) for b in make(1)]
    assert [repr(b) for b in make(1)] != [repr(b) for b in make(2)]


def test_synthetic_sessions_are_390_minutes_on_weekdays() -> None:
    bars = SyntheticIntraday(InstrumentId("SYN"), 3, start=date(2024, 1, 5)).bars(3 * 390)
    days = Counter(b.ts.astimezone(NEW_YORK).date() for b in bars)
    assert {date(2024, 1, 5): 390, date(2024, 1, 8): 390, date(2024, 1, 9): 390} == days
    local = [b.ts.astimezone(NEW_YORK).time() for b in bars[:BARS_PER_SESSION]]
    assert (time(9, 30), time(15, 59)) == (local[0], local[-1])
    assert all(b.end - b.ts == timedelta(minutes=1) for b in bars)


def test_synthetic_sessions_open_with_gaps_and_trade_more_at_the_edges() -> None:
    bars = SyntheticIntraday(InstrumentId("SYN"), 5).bars(20 * 390)
    opens = [bars[i].open - bars[i - 1].close for i in range(390, len(bars), 390)]
    assert sum(1 for gap in opens if gap != 0) >= 15
    edges = [b.volume for i, b in enumerate(bars) if i % 390 < 30 or i % 390 >= 360]
    middle = [b.volume for i, b in enumerate(bars) if 180 <= i % 390 < 210]
    assert sum(edges) / len(edges) > 1.5 * sum(middle) / len(middle)


def test_merge_series_orders_bars_by_time_then_instrument() -> None:
    a = SyntheticIntraday(InstrumentId("B"), 1).bars(3)
    b = SyntheticIntraday(InstrumentId("A"), 2).bars(3)
    merged = merge_series(a, b)
    assert ["A", "B"] * 3 == [str(bar.instrument_id) for bar in merged]


def test_clock_never_goes_backwards() -> None:
    clock = SimClock(START)
    clock.advance(10)
    with pytest.raises(InvalidValue):
        clock.advance_to(START)
    with pytest.raises(InvalidValue):
        clock.advance(-1)


async def test_clock_wakes_sleepers_in_deadline_order_and_notifies_listeners() -> None:
    clock = SimClock(START)
    seen: list[datetime] = []
    clock.on_advance(seen.append)
    woke: list[int] = []

    async def sleeper(seconds: int) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    tasks = [asyncio.get_running_loop().create_task(sleeper(s)) for s in (30, 10)]
    await asyncio.sleep(0)
    clock.advance(15)
    await asyncio.sleep(0)
    assert [10] == woke
    clock.advance(15)
    await asyncio.gather(*tasks)
    assert [10, 30] == woke
    assert [START + timedelta(seconds=15), START + timedelta(seconds=30)] == seen


def test_tick_file_replays_through_the_broker_at_the_ticks_times(tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(
        "Timestamp,Symbol,Price,Size,Bid,Ask\n"
        "2024-01-02T15:00:02Z,AAPL,100.02,300,100.01,100.03\n"
        "2024-01-02T15:00:01Z,AAPL,100.05,100,,\n"
        "2024-01-02T15:00:03+00:00,AAPL,99.98,200,99.97,99.99\n"
    )
    ticks = load_ticks_csv(path)
    assert [Decimal("100.05"), Decimal("100.02"), Decimal("99.98")] == [t.price for t in ticks]
    engine = MatchingEngine(start=START)
    engine.add_instrument(Stock("AAPL"))
    broker = SimBroker(engine, SimClock(START))
    replay = Replay(broker)
    request = OrderRequest(ClientOrderId("L"), Stock("AAPL"), Side.BUY, Decimal(10),
                           OrderType.LIMIT, limit_price=Decimal("100.00"))
    engine.submit(request)
    fills = [e for t in ticks for e in replay.step_tick(t) if isinstance(e, ExecutionFill)]
    # Buys pay the ask: 99.99 on the third tick is the first ask at or below 100.00.
    assert [(Decimal("99.99"), ticks[2].ts)] == [(f.price, f.ts_event) for f in fills]
    assert ticks[2].ts == broker.clock.now()


def test_the_bundled_file_is_parsed_once_and_every_caller_gets_its_own_bars(
    tmp_path: Path,
) -> None:
    # The same rows as parsing the file itself (the bundled loader keeps one parse per process).
    from importlib import resources

    raw = resources.files("ordergate.adapters.sim").joinpath("stocks_aapl_msft_ibm.csv.gz")
    copy = tmp_path / "bundled.csv.gz"
    copy.write_bytes(raw.read_bytes())
    for symbol in ("AAPL", "MSFT", "IBM"):
        first, second = load_bundled_daily_bars(symbol), load_bundled_daily_bars(symbol)
        parsed = load_daily_bars_csv(copy, symbol)
        fields = [(b.instrument_id, b.ts, b.end, b.open, b.high, b.low, b.close, b.volume)
                  for b in parsed]
        for loaded in (first, second):
            assert fields == [
                (b.instrument_id, b.ts, b.end, b.open, b.high, b.low, b.close, b.volume)
                for b in loaded
            ]
        assert not any(a is b for a, b in zip(first, second, strict=True))
