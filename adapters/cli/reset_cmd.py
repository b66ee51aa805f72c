"""`ordergate reset-paper`: bring a paper account back to a known state (flat, nothing working).

Only on a paper account: `mode` must be `paper` (anything else is refused with exit 3 before
anything connects), and on IBKR the gateway must report a paper login (the gate's own account
check, exit 3 otherwise). It takes the serve lock first, so it never races a running
`ordergate serve` on the same account (exit 3 naming it; stop serve first). Audited as
`paper.reset` (what was there, and what was done) in the account's audit log.

- sim: the simulated account lives in its journal beside the audit (`<audit>.sim.db`); it is
  rebuilt to read what it held, then the journal is emptied: the next `serve` starts a fresh
  simulated account (the configured starting cash, no positions, no orders) and adopts it.
- ibkr / fake: a one-shot gate cancels every working order of the account at the broker
  (whoever placed it) and closes every net position with gated FLATTEN orders, then checks the
  broker reports nothing left (exit 1 otherwise).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from ordergate.adapters.cli.app import (
    ConfigOption,
    ProfileOption,
    exit_on_errors,
    fail,
    out_console,
)
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.cli.ops_cmds import (
    AuditOption,
    BrokerOption,
    ControlFileOption,
    cli_settings,
    trading_control_for,
)
from ordergate.adapters.cli.serve_cmd import _audit_file, acquire_service_lock
from ordergate.adapters.service_lock import ServiceLocked
from ordergate.adapters.sim.journal import SimJournal, journal_path
from ordergate.application.bootstrap import build_application, sim_identity
from ordergate.application.config import Settings

__all__ = ["register", "reset_paper"]


def register(app: typer.Typer) -> None:
    """Add `reset-paper` to `app`."""
    app.command("reset-paper")(reset_paper)


def reset_paper(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
) -> None:
    """Cancel every order and close every position of a PAPER account (refused on live: exit
    3); audited. Exit 0 when the account is flat with nothing working."""
    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path)
        if settings.mode.value != "paper":
            raise fail(
                f"reset-paper works only on a paper account: mode is {settings.mode.value!r} "
                "(set mode = 'paper'); nothing was done",
                ExitCode.REFUSED,
            )
        try:
            lock = acquire_service_lock(settings, command="reset-paper")
        except ServiceLocked as exc:
            message = f"{exc} (reset-paper needs the account to itself)"
            raise fail(message, ExitCode.REFUSED) from None
        with lock:
            left, summary = asyncio.run(_reset(settings, control_file))
    out_console().print(summary, markup=False)
    if left:
        raise fail(f"the account is not flat after reset-paper: {left}", ExitCode.FAILURE)


async def _reset(settings: Settings, control_file: Path | None) -> tuple[str, str]:
    control = trading_control_for(settings, control_file)
    sim = settings.broker.kind.value == "sim"
    state = journal_path(_audit_file(settings)) if sim else None
    app = await build_application(settings, control=control, sim_state=state)
    async with app:
        gate = app.gate
        before_positions = {p.instrument_id.value: str(p.quantity) for p in gate.positions()}
        before_orders = [v.client_order_id.value for v in await gate.broker_open_orders()]
        if sim:
            assert state is not None
            journal = SimJournal.open(state, sim_identity(settings))
            try:
                journal.clear()
            finally:
                journal.close()
            action = f"simulated account cleared ({state})"
            left_positions: list[str] = []
            left_orders: list[str] = []
        else:
            report = await gate.flatten()
            await gate.settle()
            left_positions = [
                f"{p.instrument_id} {p.quantity}" for p in await gate.broker_positions()
            ]
            left_orders = [v.client_order_id.value for v in await gate.broker_open_orders()]
            action = (
                f"cancelled {len(report.cancelled)} working orders, sent "
                f"{len(report.closures)} closures"
            )
        await gate.record(
            "paper.reset",
            {
                "broker": settings.broker.kind.value,
                "positions_before": before_positions,
                "orders_before": before_orders,
                "action": action,
                "positions_left": left_positions,
                "orders_left": left_orders,
            },
        )
    left = "; ".join([*left_positions, *(f"order {o}" for o in left_orders)])
    summary = (
        f"reset-paper ({settings.broker.kind.value}): {len(before_positions)} positions and "
        f"{len(before_orders)} working orders before; {action}"
    )
    return left, summary
