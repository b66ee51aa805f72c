"""`ordergate gateway-sim`: run the TWS gateway emulator in the foreground until Ctrl-C.

Argument handling only; the emulator is `ordergate.adapters.gateway_sim.run_gateway`. IB clients
(ib_async, TWS API samples) connect to `--host:--port` as they would to IB Gateway. With
`--replay` the simulator drives it, replaying the `[session]` of `--config` one trading day per
control-channel request (what `ordergate run --broker ibkr` sends).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ordergate.adapters.cli.app import (
    ConfigOption,
    ProfileOption,
    exit_on_errors,
    fail,
    out_console,
)
from ordergate.adapters.cli.app import load as load_app_settings
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.gateway_sim import DEFAULT_PORT, run_gateway
from ordergate.adapters.gateway_sim.engine import GatewayEngine
from ordergate.adapters.gateway_sim.server import GatewayServer
from ordergate.adapters.gateway_sim.sim_engine import SimGatewayEngine
from ordergate.adapters.preflight import check_session_data
from ordergate.application.bootstrap import SIM_ACCOUNT, sim_session

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
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Port to listen on; 0 picks a free one. Default: broker.port of the config "
            f"(--config or $ORDERGATE_CONFIG), else {DEFAULT_PORT}.",
        ),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Drive the emulator with the simulator replaying the [session] of --config "
            "(real daily bars, seeded fills), one trading day per control-channel request, so "
            "`ordergate run --broker ibkr` runs the same session as the sim broker.",
        ),
    ] = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    bars: Annotated[
        int | None, typer.Option("--bars", help="With --replay: days to replay (0 = all).")
    ] = None,
    account: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            metavar="CODE",
            help="Account the emulator is logged into (repeatable; one with --replay). "
            "Default: account_id of the config, else DU1234567 (DU0000000 with --replay).",
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            metavar="FILE_OR_SCRIPT", help="Fault script: a file, or steps separated by ';'."
        ),
    ] = None,
) -> None:
    """Run the TWS API gateway emulator until interrupted: immediate fills on a synthetic market,
    or (--replay) the sim matching engine replaying the configured session."""
    script = faults
    if script and Path(script).is_file():
        script = Path(script).read_text(encoding="utf-8")
    console = out_console()
    engine: GatewayEngine | None = None
    if bars is not None and not replay:
        raise fail(
            f"--bars {bars}: only a replaying emulator (--replay) has bars to replay",
            ExitCode.BAD_CONFIG,
        )
    if replay and account is not None and len(account) > 1:
        raise fail(
            f"--account {' --account '.join(account)}: a replaying emulator (--replay) is "
            "logged into one account",
            ExitCode.BAD_CONFIG,
        )
    with exit_on_errors():
        settings = None
        if config is not None or replay:
            overrides: dict[str, object] = {} if bars is None else {"session.bars": bars}
            settings = load_app_settings(config, profile, overrides)
        configured = None if settings is None else settings.account_id
        accounts = tuple(account or ([configured] if configured else []))
        if replay and settings is not None:
            check_session_data(settings)  # a symbol without bars is bad config: exit 2
            logged_in = accounts[0] if accounts else SIM_ACCOUNT
            engine = SimGatewayEngine(sim_session(settings, account_id=logged_in))
    if port is None:
        port = DEFAULT_PORT if settings is None else settings.broker.port
    # IB's pacing limit (error 100 past 50 messages/s), unless the config lifts the client's
    # throttle (`broker.max_requests_per_second = 0`): a local emulator has nothing to pace.
    unthrottled = settings is not None and settings.broker.max_requests_per_second == 0
    described = "replaying the configured session" if engine is not None else "instant fills"
    if unthrottled:
        described += "; no pacing limit"

    def ready(server: GatewayServer) -> None:
        console.print(
            f"TWS gateway emulator listening on {server.host}:{server.port} ({described})",
            markup=False,
        )

    with exit_on_errors():
        run_gateway(
            host,
            port,
            engine=engine,
            accounts=accounts or ("DU1234567",),
            fault_script=script,
            on_ready=ready,
            message_rate_limit=None if unthrottled else 50,
        )
