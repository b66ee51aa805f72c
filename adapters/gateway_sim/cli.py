"""Entry points that run the gateway emulator as a process: `run_gateway` (blocking, for the
`ordergate gateway-sim` command) and `serve_gateway` (the same, awaitable).

They build an `InstantEngine` unless an engine is passed, start a `GatewayServer`, optionally run
a fault script, and serve until cancelled or interrupted. Argument parsing for
`python -m ordergate.adapters.gateway_sim` lives in `__main__.py`. Must never import `ib_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from ordergate.adapters.gateway_sim.engine import GatewayEngine
from ordergate.adapters.gateway_sim.faults import FaultScript
from ordergate.adapters.gateway_sim.instant_engine import InstantEngine
from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = ["DEFAULT_PORT", "run_gateway", "serve_gateway"]

DEFAULT_PORT = 4002
"""IB Gateway's paper-trading port, which IB clients try by default."""

_log = logging.getLogger(__name__)


async def serve_gateway(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    engine: GatewayEngine | None = None,
    accounts: Sequence[str] = ("DU1234567",),
    fault_script: str | None = None,
    on_ready: Callable[[GatewayServer], None] | None = None,
    message_rate_limit: int | None = 50,
) -> None:
    """Serve the emulator on `host:port` until cancelled.

    `engine` defaults to an `InstantEngine` over `accounts`; `fault_script` (the text format of
    `FaultScript.parse`) starts once listening; `on_ready` is called with the started server;
    `message_rate_limit` is IB's messages-per-second pacing limit (error 100 past it; None: no
    limit).
    """
    script = FaultScript.parse(fault_script) if fault_script else None
    server = GatewayServer(
        engine or InstantEngine(accounts=accounts),
        host=host,
        port=port,
        message_rate_limit=message_rate_limit,
    )
    if script is not None:
        script.validate(server)
    async with server:
        if on_ready is not None:
            on_ready(server)
        if script is not None:
            server.run_script(script)
        await asyncio.Event().wait()  # until cancelled


def run_gateway(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    engine: GatewayEngine | None = None,
    accounts: Sequence[str] = ("DU1234567",),
    fault_script: str | None = None,
    on_ready: Callable[[GatewayServer], None] | None = None,
    message_rate_limit: int | None = 50,
) -> None:
    """Run the emulator in the foreground until Ctrl-C (see `serve_gateway` for arguments)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve_gateway(
                host,
                port,
                engine=engine,
                accounts=accounts,
                fault_script=fault_script,
                on_ready=on_ready,
                message_rate_limit=message_rate_limit,
            )
        )
    _log.info("TWS gateway emulator stopped")
