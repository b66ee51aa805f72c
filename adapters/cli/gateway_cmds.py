"""`ordergate gateway-sim`: run the TWS gateway emulator in the foreground until Ctrl-C.

Argument handling only; the emulator is `ordergate.adapters.gateway_sim.run_gateway`. IB clients
(ib_async, TWS API samples) connect to `--host:--port` as they would to IB Gateway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ordergate.adapters.cli.app import exit_on_errors, out_console
from ordergate.adapters.gateway_sim import DEFAULT_PORT, run_gateway
from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = ["gateway_sim", "register"]


def register(app: typer.Typer) -> None:
    """Add `gateway-sim` to `app`."""
    app.command("gateway-sim")(gateway_sim)


def gateway_sim(
    *,
    host: Annotated[str, typer.Option(help="Interface to bind (keep it on loopback).")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")
    ] = DEFAULT_PORT,
    account: Annotated[
        list[str] | None,
        typer.Option("--account", metavar="CODE", help="Managed account (repeatable)."),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            metavar="FILE_OR_SCRIPT", help="Fault script: a file, or steps separated by ';'."
        ),
    ] = None,
) -> None:
    """Run the TWS API gateway emulator (sim matching engine) until interrupted."""
    script = faults
    if script and Path(script).is_file():
        script = Path(script).read_text(encoding="utf-8")
    console = out_console()

    def ready(server: GatewayServer) -> None:
        console.print(
            f"TWS gateway emulator listening on {server.host}:{server.port}", markup=False
        )

    with exit_on_errors():
        run_gateway(
            host,
            port,
            accounts=tuple(account or ("DU1234567",)),
            fault_script=script,
            on_ready=ready,
        )
