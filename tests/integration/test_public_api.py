"""`import ordergate`: the public names, `ordergate.open`, and `gate.simulation` driving the
simulated market with no internal call (issue #13)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import ordergate
from ordergate.application.results import OrderResultStatus

ROOT = Path(__file__).resolve().parents[2]


def sim_settings(days: int = 30) -> ordergate.Settings:
    return ordergate.load_settings(
        environ={}, overrides={"audit.kind": "memory", "session.bars": days}
    )


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in ordergate.__all__:
        assert getattr(ordergate, name) is not None, name
    assert set(ordergate.__all__) <= set(dir(ordergate))
    assert ordergate.__version__[0].isdigit()
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = ordergate.no_such_name  # type: ignore[attr-defined]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT / "tests",
    )
    return set(out.stdout.split())


HEAVY = {"ib_async", "psycopg", "redis", "pandas", "exchange_calendars"}


def test_import_ordergate_loads_no_layer_and_no_sdk() -> None:
    loaded = _modules_after("import ordergate")
    assert not loaded & (HEAVY | {"ordergate.application", "ordergate.adapters", "numpy"})


def test_a_sim_application_never_imports_the_broker_sdks() -> None:
    code = (
        "import asyncio, ordergate\n"
        "s = ordergate.load_settings(environ={}, overrides={'audit.kind': 'memory',"
        " 'session.bars': 5})\n"
        "async def main():\n"
        "    async with ordergate.open(s) as gate:\n"
        "        await gate.simulation.advance_days(1)\n"
        "asyncio.run(main())"
    )
    loaded = _modules_after(code)
    assert "ordergate.adapters.sim" in loaded
    assert not loaded & {"ib_async", "psycopg", "redis"}


def _buy(gate: ordergate.OrderGate, n: int, symbol: str) -> ordergate.Signal:
    return ordergate.Signal(
        ordergate.SignalId(f"t-{n}"),
        ordergate.Stock(symbol),
        ordergate.Side.BUY,
        gate.now - timedelta(seconds=1),
        quantity=Decimal(10),
    )


async def test_orders_fill_when_the_simulation_advances_and_not_before() -> None:
    async with ordergate.open(sim_settings()) as gate:
        sim = gate.simulation
        days = sim.days_left
        assert 1 == await sim.advance_days(1)
        assert days - 1 == sim.days_left
        [result] = await gate.submit_signal(_buy(gate, 1, "AAPL"))
        assert OrderResultStatus.SUBMITTED == result.status
        assert [] == gate.positions()
        assert OrderResultStatus.SUBMITTED == gate.order_status(result.client_order_id).status
        before = sim.next_bar_at
        assert 1 == await sim.advance_bars(1)  # the next bar's open fills the market order
        after = sim.next_bar_at
        assert before is not None
        assert after is not None
        assert after > before
        filled = gate.order_status(result.client_order_id)
        assert OrderResultStatus.FILLED == filled.status
        assert Decimal(10) == filled.fill_quantity
        [position] = gate.positions()
        assert Decimal(10) == position.quantity
        assert filled.fill_price == position.avg_open_price


async def test_advance_stops_at_the_end_and_says_how_far_it_went() -> None:
    async with ordergate.open(sim_settings(days=3)) as gate:
        sim = gate.simulation
        assert 3 == await sim.advance_days(10)
        assert sim.finished
        assert sim.upcoming_day is None
        assert 0 == await sim.advance_bars(5)


async def test_bars_then_days_replay_each_bar_once() -> None:
    async with ordergate.open(sim_settings(days=4)) as gate:
        sim = gate.simulation
        day = sim.upcoming_day
        assert 1 == await sim.advance_bars(1)  # the day's bar of every symbol: a daily replay
        assert day != sim.upcoming_day
        assert 3 == sim.days_left
        assert 1 == await sim.advance_days(1)
        assert 2 == sim.days_left


async def test_run_drives_strategies_for_the_days_asked() -> None:
    async with ordergate.open(sim_settings(days=40)) as gate:
        sim = gate.simulation
        cycles: list[int] = []
        summary = await sim.run(
            [ordergate.MomentumStrategyA([ordergate.Stock("MSFT"), ordergate.Stock("IBM")])],
            days=25,
            on_cycle=lambda n, _s: cycles.append(n),
        )
        assert list(range(1, 26)) == cycles
        assert 25 == summary.cycles
        assert 15 == sim.days_left
        rest = await sim.run([])
        assert 15 == rest.cycles
        assert sim.finished


@pytest.mark.parametrize("count", [0, -1, 1.5, True, 10**7])
async def test_a_bad_count_is_refused_by_name(count: object) -> None:
    async with ordergate.open(sim_settings(days=2)) as gate:
        with pytest.raises(ordergate.InvalidValue, match="count"):
            await gate.simulation.advance_bars(count)  # type: ignore[arg-type]
        assert 2 == gate.simulation.days_left


async def test_no_simulation_handle_off_the_simulator() -> None:
    settings = ordergate.load_settings(
        environ={},
        overrides={"audit.kind": "memory", "broker.kind": "fake", "market_data.kind": "fake"},
    )
    async with ordergate.open(settings) as gate:
        with pytest.raises(ordergate.InvalidValue, match=r"broker\.kind"):
            _ = gate.simulation


async def test_open_refuses_a_profile_with_ready_settings() -> None:
    with pytest.raises(ordergate.InvalidValue, match="profile"):
        async with ordergate.open(sim_settings(), profile="paper"):
            pass


async def test_open_checks_the_machine_first(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    settings = ordergate.load_settings(
        environ={}, overrides={"audit.kind": "memory", "session.bars_file": str(missing)}
    )
    with pytest.raises(ordergate.ConfigError, match=r"session\.bars_file"):
        async with ordergate.open(settings):
            pass


def test_the_embedding_example_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed_sim.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    lines = out.stdout.splitlines()
    assert 2 == sum(" FILLED 10 @ " in line for line in lines), out.stdout
    assert {"AAPL", "MSFT"} <= {line.split()[0] for line in lines}


def test_all_lists_exactly_the_lazy_names() -> None:
    assert sorted(ordergate.__all__) == sorted(["__version__", *ordergate._EXPORTS])


@pytest.mark.parametrize(
    ("quantity", "hint"),
    [
        (10, "an int converts exactly: Decimal(10)"),
        ("10", "parse text exactly: Decimal('10')"),
        (10.0, "convert floats at the adapter boundary"),
    ],
)
def test_a_quantity_that_is_not_a_decimal_is_refused_with_the_exact_conversion(
    quantity: object, hint: str
) -> None:
    with pytest.raises(ordergate.InvalidValue, match=r"Signal\.quantity") as caught:
        ordergate.Signal(
            ordergate.SignalId("q-1"),
            ordergate.Stock("AAPL"),
            ordergate.Side.BUY,
            datetime.now(UTC),
            quantity=quantity,  # type: ignore[arg-type]
        )
    assert hint in str(caught.value)


def test_import_ordergate_reads_no_package_metadata_until_the_version_is_asked() -> None:
    assert "importlib.metadata" not in _modules_after("import ordergate")
    assert "importlib.metadata" in _modules_after("import ordergate; ordergate.__version__")
