"""The `TradingControl` contract (see `ordergate.ports.trading_control`), run against every
adapter of the port: in memory, a file, a Redis key (random key, deleted after the test)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from ordergate.adapters.control import FileTradingControl, RedisTradingControl
from ordergate.adapters.fakes.trading_control import InMemoryTradingControl
from ordergate.domain.risk.breakers import KillSwitchEngaged
from ordergate.domain.risk.decision import TradingState
from ordergate.ports.trading_control import TradingControl

T0 = datetime(2024, 1, 9, 15, 0, tzinfo=UTC)
H, A, R = TradingState.HALTED, TradingState.ACTIVE, TradingState.REDUCING


@pytest_asyncio.fixture(params=["memory", "file", "redis"])
async def control(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TradingControl]:
    if request.param == "memory":
        yield InMemoryTradingControl()
    elif request.param == "file":
        yield FileTradingControl(tmp_path / "control.json")
    else:
        url = request.getfixturevalue("redis_url")  # skips (fails under CI) without Redis
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url)
        key = f"ordergate_test_{uuid.uuid4().hex[:12]}:control"
        try:
            yield RedisTradingControl(client, key=key)
        finally:
            await client.delete(key)
            await client.aclose()


async def test_nothing_requested_reads_none(control: TradingControl) -> None:
    assert isinstance(control, TradingControl)
    assert await control.read() is None


async def test_a_request_is_read_back_whole(control: TradingControl) -> None:
    written = await control.request(H, "end of day", now=T0)
    assert written.state is H
    assert (written.reason, written.requested_at, written.kill_switch) == ("end of day", T0, False)
    assert await control.read() == written


async def test_the_kill_switch_is_sticky_until_an_explicit_resume(control: TradingControl) -> None:
    await control.request(H, "kill", now=T0, kill=True)
    kept = await control.request(H, "a halt on top", now=T0)
    assert kept.kill_switch
    with pytest.raises(KillSwitchEngaged):
        await control.request(R, "reduce while killed", now=T0)
    stored = await control.read()
    assert stored is not None
    assert (stored.state, stored.kill_switch, stored.reason) == (H, True, "a halt on top")
    released = await control.request(A, "resume", now=T0)
    assert not released.kill_switch
    assert await control.read() == released
    assert not (await control.request(H, "plain halt", now=T0)).kill_switch


async def test_the_last_request_wins(control: TradingControl) -> None:
    for state in (H, R, A, H):
        await control.request(state, state.value, now=T0)
    stored = await control.read()
    assert stored is not None
    assert (stored.state, stored.reason) == (H, "HALTED")
