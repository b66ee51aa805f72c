"""Running the TWS gateway emulator as a process and as an awaitable entry point."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest
from ib_async import IB

from ordergate.adapters.gateway_sim import GatewayServer, serve_gateway
from ordergate.adapters.gateway_sim.faults import FaultScriptError


async def test_python_dash_m_serves_ib_async_on_the_printed_port() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ordergate.adapters.gateway_sim", "--port", "0",
        "--account", "DU777", "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match is not None, line
        client = IB()
        await client.connectAsync("127.0.0.1", int(match.group(1)), clientId=3, timeout=5)
        try:
            assert client.managedAccounts() == ["DU777"]
        finally:
            client.disconnect()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def test_serve_gateway_runs_until_cancelled() -> None:
    ready: asyncio.Future[GatewayServer] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(serve_gateway(port=0, on_ready=ready.set_result,
                                               fault_script="farm-ok"))
    server = await asyncio.wait_for(ready, 5)
    client = IB()
    await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
    client.disconnect()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_serve_gateway_refuses_a_bad_fault_script_before_listening() -> None:
    with pytest.raises(FaultScriptError):
        await serve_gateway(port=0, fault_script="no-such-fault")
