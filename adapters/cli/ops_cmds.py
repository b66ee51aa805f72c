"""Operator commands: `status`, `positions`, `orders`, `flatten`, `halt`, `resume`, `kill`,
`reconcile [--dry-run]`.

When the configuration names a service (`[service] enabled = true`) and one answers at
`service.host:service.port`, every one of them goes through its control API (`ordergate serve`,
docs/operations.md): reads unauthenticated, writes with the bearer token from the variable
`service.token_env` names and `--operator` (audited by the service). Without a running service:
`halt` / `resume` write the trading control as below; on IBKR the others act through a one-shot
gate as below; on the sim or fake broker, whose account lives only inside `serve`, they exit 5
(`kill` after persisting the switch). Reads (`status`, `positions`, `orders`) through a
one-shot gate keep its audit log in memory: no read creates or writes a file.

Without a service, `positions`, `flatten`, `kill` and `reconcile` connect to the configured
broker through the composition root (`build_application`) as the CLI client (IB client id 3),
behind the same arming checks as `run`. `flatten` first cancels every working order of the
account at the broker (including orders other clients or earlier runs placed), then rebuilds the
gate's positions from the broker's and sends one gated FLATTEN closure per net position, never
over-closing. `reconcile --dry-run` only prints the differences and sends nothing. `halt` /
`resume` do not touch the broker: they persist the trading state an operator wants in the
trading control, which every gate reads when it starts and `serve` / `run` poll while they
trade. `kill` persists the kill switch first (so it holds even if the broker cannot be reached),
then cancels and flattens; only `resume` releases it.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import attrs
import typer
from rich.table import Table

from ordergate.adapters.cli.app import (
    ConfigOption,
    ProfileOption,
    err_console,
    exit_on_errors,
    fail,
    out_console,
)
from ordergate.adapters.cli.app import load as load_app_settings
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.http.client import ServiceClient, ServiceError, ServiceUnreachable
from ordergate.adapters.preflight import check_can_start
from ordergate.application.arming import check_arming
from ordergate.application.bootstrap import build_application, trading_control
from ordergate.application.config import (
    CLIENT_ID_CLI,
    AuditKind,
    BrokerKind,
    Settings,
)
from ordergate.application.facade import KillReport, OrderGate
from ordergate.application.flatten import FlattenReport
from ordergate.application.reconcile import ReconciliationReport
from ordergate.application.results import OrderResult
from ordergate.application.status import GateStatus
from ordergate.domain.account import BrokerPosition, OrderView
from ordergate.domain.errors import OrdergateError
from ordergate.domain.risk.control import TradingRequest
from ordergate.domain.risk.decision import TradingState
from ordergate.ports.trading_control import TradingControl, TradingControlError

__all__ = [
    "BrokerOption",
    "ControlFileOption",
    "cli_settings",
    "flatten",
    "halt",
    "kill",
    "orders",
    "positions",
    "reconcile",
    "register",
    "resume",
    "running_service",
    "status",
    "trading_control_for",
    "with_gate",
]

T = TypeVar("T")

BrokerOption = Annotated[
    str | None, typer.Option("--broker", help="sim | ibkr | fake (overrides config).")
]
AuditOption = Annotated[
    Path | None, typer.Option("--audit", help="SQLite audit file (overrides audit.path).")
]
ControlFileOption = Annotated[
    Path | None,
    typer.Option(
        "--control-file",
        dir_okay=False,
        help="Trading control file: where halt/resume/kill are kept (default: beside the audit "
        "file; Redis when signals.kind is redis).",
    ),
]
ModeOption = Annotated[
    str | None, typer.Option("--mode", help="dry_run | paper | live (overrides config).")
]


def register(app: typer.Typer) -> None:
    """Add `positions`, `flatten`, `halt`, `resume`, `kill` and `reconcile` to `app`."""
    app.command("status")(status)
    app.command("positions")(positions)
    app.command("orders")(orders)
    app.command("flatten")(flatten)
    app.command("halt")(halt)
    app.command("resume")(resume)
    app.command("kill")(kill)
    app.command("reconcile")(reconcile)


# -- shared ------------------------------------------------------------------------------------
def cli_settings(
    config: Path | None,
    profile: str | None,
    *,
    broker: str | None = None,
    audit_path: Path | None = None,
    mode: str | None = None,
    client_id: int | None = CLIENT_ID_CLI,
    service_enabled: bool | None = None,
) -> Settings:
    """Settings for a command that connects to the broker: as IB client `client_id` (3, the
    CLI, by default; None keeps `broker.client_id` of the configuration)."""
    overrides: dict[str, object] = {}
    if client_id is not None:
        overrides["broker.client_id"] = client_id
    if broker is not None:
        overrides["broker.kind"] = broker
        overrides["market_data.kind"] = broker
    if audit_path is not None:
        overrides["audit.path"] = str(audit_path)
    if mode is not None:
        overrides["mode"] = mode
    if service_enabled is not None:
        overrides["service.enabled"] = service_enabled
    settings = load_app_settings(config, profile, overrides)
    check_can_start(settings)  # what the selected adapters need here: exit 2, not a traceback
    check_arming(settings, dict(os.environ))
    return settings


async def with_gate(
    settings: Settings,
    action: Callable[[OrderGate], Awaitable[T]],
    control: TradingControl | None = None,
    *,
    read_only_audit: bool = False,
) -> T:
    """Build the application (its gate honouring the trading control, `control` or the one the
    settings name), run `action` inside `async with gate`, release everything. With
    `read_only_audit` the stored audit log is read and never written (one-shot reads)."""
    try:
        app = await build_application(settings, control=control, read_only_audit=read_only_audit)
    except (OrdergateError, OSError):
        raise
    except Exception as exc:  # the container's own errors (e.g. a kind not wired here)
        raise fail(
            f"cannot build the application for broker.kind={settings.broker.kind.value!r}: {exc}",
            ExitCode.BAD_CONFIG,
        ) from None
    async with app:
        return await action(app.gate)


def trading_control_for(settings: Settings, control_file: Path | None) -> TradingControl:
    """The trading control every gate reads and `halt` / `resume` / `kill` write (see
    `ordergate.application.bootstrap.trading_control`)."""
    return trading_control(settings, control_file)


# -- the running service -----------------------------------------------------------------------
def running_service(settings: Settings) -> ServiceClient | None:
    """The client of the service the configuration names, when one answers there; None when
    `service.enabled` is false or nothing listens at `service.host:service.port`."""
    service = settings.service
    if not service.enabled:
        return None
    client = ServiceClient.for_address(
        service.host,
        service.port,
        timeout=service.timeout,
        token=os.environ.get(service.token_env, "").strip() or None,
    )
    try:
        return client if client.probe() is not None else None
    except ServiceError as exc:
        raise fail(str(exc), ExitCode.FAILURE) from None


def _no_service(settings: Settings, command: str) -> typer.Exit:
    """The exit of a command that needs the broker when no service runs and the broker is the
    simulator or the fake, which live only inside `ordergate serve` (exit 5)."""
    service = settings.service
    where = (
        f"no ordergate service answers at {service.host}:{service.port}"
        if service.enabled
        else "no service is named in the configuration (service.enabled is false)"
    )
    return fail(
        f"{where}, and broker.kind is {settings.broker.kind.value!r}: the simulated broker lives "
        f"inside `ordergate serve`, so `ordergate {command}` has no account to act on here. Start "
        f"`ordergate serve` with [service] enabled = true and run `ordergate {command}` again "
        "(it goes through the service's control API)",
        ExitCode.NO_SERVICE,
    )


def _needs_broker_here(settings: Settings, command: str) -> None:
    """Refuse (exit 5) on the sim and fake brokers, which only `serve` holds."""
    if settings.broker.kind is not BrokerKind.IBKR:
        raise _no_service(settings, command)


def _call_service(call: Callable[[], T], *, writes: bool = False, client: ServiceClient) -> T:
    """Run one call to the service; its errors exit with a code that says what went wrong."""
    if writes and client.token is None:
        raise fail(
            f"the service at {client.base_url} needs a bearer token for this: set the variable "
            "service.token_env names (default ORDERGATE_API_TOKEN) to the service's token",
            ExitCode.BAD_CONFIG,
        )
    try:
        return call()
    except ServiceUnreachable as exc:
        raise fail(f"{exc} (the service stopped?)", ExitCode.FAILURE) from None
    except ServiceError as exc:
        code = {
            400: ExitCode.BAD_CONFIG,
            401: ExitCode.BAD_CONFIG,
            404: ExitCode.FAILURE,
            409: ExitCode.REFUSED,
            422: ExitCode.BAD_CONFIG,
            502: ExitCode.BROKER_UNAVAILABLE,
        }.get(exc.status, ExitCode.FAILURE)
        raise fail(str(exc), code) from None


def _read_only(settings: Settings) -> Settings:
    """`settings` for a read through a one-shot gate: the audit log in memory, so a read
    creates and writes no file (what the gate records while it reads is not kept)."""
    return attrs.evolve(settings, audit=attrs.evolve(settings.audit, kind=AuditKind.MEMORY))


def _one_shot_read(
    settings: Settings, action: Callable[[OrderGate], Awaitable[T]], control_file: Path | None
) -> T:
    """Read through a one-shot gate on the broker (IBKR): nothing is written anywhere; the
    trading state shown is the one persisted in the trading control (read, not written)."""
    control = trading_control_for(settings, control_file)
    return asyncio.run(with_gate(_read_only(settings), action, _ReadOnlyControl(control)))


class _ReadOnlyControl:
    """A `TradingControl` that reads the real one and never writes it (for one-shot reads)."""

    def __init__(self, inner: TradingControl) -> None:
        self._inner = inner

    async def read(self) -> TradingRequest | None:
        return await self._inner.read()

    async def request(
        self,
        state: TradingState,
        reason: str = "",
        *,
        now: datetime | None = None,
        kill: bool = False,
    ) -> TradingRequest:
        raise TradingControlError("a read-only command does not change the trading state")

    async def close(self) -> None:
        await self._inner.close()

    def __str__(self) -> str:
        return f"{self._inner} (read-only)"


def _operator() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "operator"
    return name or "operator"


OperatorOption = Annotated[
    str,
    typer.Option(
        "--operator",
        help="Who asks (sent to a running service and audited there; default: your user name).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON: one object per line.")]


def _print_json_lines(items: list[dict[str, Any]]) -> None:
    console = out_console()
    for item in items:
        console.print(json.dumps(item, sort_keys=True), markup=False)


def _results_table(title: str, results: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("client order id", "status", "reason"):
        table.add_column(column)
    for result in results:
        table.add_row(result["client_order_id"], result["status"], result.get("reason") or "")
    if not results:
        table.add_row("(none)", "", "")
    return table


def _result_dict(result: OrderResult) -> dict[str, Any]:
    return {
        "client_order_id": result.client_order_id.value,
        "status": result.status.value,
        "reason": result.reason,
    }


def _view_dict(view: OrderView) -> dict[str, Any]:
    return {
        "client_order_id": view.client_order_id.value,
        "broker_order_id": None if view.broker_order_id is None else str(view.broker_order_id),
        "instrument": view.instrument_id.value,
        "side": view.side.value,
        "order_type": view.order_type.value,
        "status": view.status.value,
        "quantity": str(view.quantity),
        "filled_qty": str(view.filled_qty),
        "leaves_qty": str(view.leaves_qty),
        "limit_price": None if view.limit_price is None else str(view.limit_price),
        "stop_price": None if view.stop_price is None else str(view.stop_price),
    }


# -- positions ---------------------------------------------------------------------------------
def positions(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the broker's positions (read-only: nothing is sent, no file is written).

    Through the running service when there is one; else from IBKR directly; on the sim or
    fake broker without a service, exit 5 (their account lives inside `serve`).
    """
    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path)
        client = running_service(settings)
        if client is not None:
            held = _call_service(
                lambda: client.get("/positions", {"source": "broker"}), client=client
            )
            where = f"the service at {client.base_url}"
        else:
            _needs_broker_here(settings, "positions")
            found: list[BrokerPosition] = _one_shot_read(
                settings, lambda gate: gate.broker_positions(), control_file
            )
            held = [
                {
                    "instrument": p.instrument_id.value,
                    "quantity": str(p.quantity),
                    "avg_cost": str(p.avg_cost),
                }
                for p in found
            ]
            where = "the broker"
    if as_json:
        _print_json_lines(
            [{k: p.get(k) for k in ("instrument", "quantity", "avg_cost")} for p in held]
        )
        return
    table = Table(title=f"positions at the broker ({settings.broker.kind.value}, via {where})")
    table.add_column("instrument")
    table.add_column("quantity", justify="right")
    table.add_column("avg cost", justify="right")
    for p in sorted(held, key=lambda p: str(p["instrument"])):
        cost = p.get("avg_cost")
        shown = "" if cost is None else f"{Decimal(cost):,.4f}"
        table.add_row(p["instrument"], str(p["quantity"]), shown)
    if not held:
        table.add_row("(none)", "0", "")
    out_console().print(table)


# -- orders ------------------------------------------------------------------------------------
def orders(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the working orders (read-only): the service's, or the broker's open orders on
    IBKR when no service runs (exit 5 on the sim or fake broker without a service)."""
    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path)
        client = running_service(settings)
        if client is not None:
            working = _call_service(lambda: client.get("/orders"), client=client)
        else:
            _needs_broker_here(settings, "orders")
            views: list[OrderView] = _one_shot_read(
                settings, lambda gate: gate.broker_open_orders(), control_file
            )
            working = [_view_dict(v) for v in views]
    if as_json:
        _print_json_lines(working)
        return
    table = Table(title=f"working orders ({settings.broker.kind.value})")
    columns = ("client order id", "instrument", "side", "type", "quantity", "filled", "limit")
    for column in (*columns, "stop", "status"):
        table.add_column(column)
    for o in sorted(working, key=lambda o: str(o["client_order_id"])):
        table.add_row(
            o["client_order_id"],
            o["instrument"],
            o["side"],
            o["order_type"],
            str(o["quantity"]),
            str(o["filled_qty"]),
            o.get("limit_price") or "",
            o.get("stop_price") or "",
            o["status"],
        )
    if not working:
        table.add_row("(none)", *[""] * 8)
    out_console().print(table)


# -- status ------------------------------------------------------------------------------------
def status(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Trading state, kill switch, breakers, broker link and counts (read-only): the running
    service's; on IBKR without a service, a one-shot gate's (exit 5 on sim or fake)."""
    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path)
        client = running_service(settings)
        if client is not None:
            shown = _call_service(lambda: client.get("/status"), client=client)
            source = f"service at {client.base_url}"
        else:
            _needs_broker_here(settings, "status")
            now: GateStatus = _one_shot_read(settings, _status_of, control_file)
            shown = _status_dict(settings, now)
            source = "one-shot gate (no service running)"
    if as_json:
        _print_json_lines([shown])
        return
    trading = shown["trading"]
    state = trading["state"] + (" (kill switch)" if trading["kill_switch"] else "")
    open_breakers = [
        f"{b['name']} {b['state']}" for b in shown["breakers"] if b["state"] != "CLOSED"
    ]
    connection = shown["connection"]
    counts = shown["counts"]
    rows = [
        ("source", source),
        ("version", shown.get("version", "")),
        ("mode / broker", f"{shown['mode']} / {connection['broker_kind']}"),
        ("trading state", state),
        ("why", trading.get("reason") or "-"),
        ("breakers not closed", ", ".join(open_breakers) or "none"),
        ("broker connected", "yes" if connection["broker_connected"] else "NO"),
        ("link lost", "yes" if connection["link_lost"] else "no"),
        (
            "open positions / working orders",
            f"{counts['open_positions']} / {counts['working_orders']}",
        ),
        ("started at", shown.get("started_at") or "-"),
        ("uptime", f"{shown['uptime_seconds']:.0f} s" if "uptime_seconds" in shown else "-"),
    ]
    table = Table(title="ordergate status", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, str(value))
    out_console().print(table)


async def _status_of(gate: OrderGate) -> GateStatus:
    return gate.status()


def _status_dict(settings: Settings, now: GateStatus) -> dict[str, Any]:
    """The one-shot gate's status in the shape of the API's `GET /status`."""

    def time(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "service": None,
        "mode": now.mode,
        "operator_id": now.operator_id,
        "account_id": settings.account_id,
        "trading": {
            "state": now.trading_state.value,
            "reason": now.trading_reason,
            "changed_at": time(now.trading_changed_at),
            "kill_switch": now.kill_switch,
        },
        "breakers": [
            {
                "name": b.name,
                "state": b.state.value,
                "opened_at": time(b.opened_at),
                "reason": b.reason,
            }
            for b in now.breakers
        ],
        "connection": {
            "broker_kind": settings.broker.kind.value,
            "broker_connected": now.broker_connected,
            "link_lost": now.link_lost,
        },
        "counts": {
            "open_positions": now.open_positions,
            "working_orders": now.working_orders,
            "orders_tracked": now.orders_tracked,
        },
        "started_at": time(now.started_at),
        "now": time(now.now),
    }


# -- flatten -----------------------------------------------------------------------------------
def flatten(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    mode: ModeOption = None,
    control_file: ControlFileOption = None,
    operator: OperatorOption = "",
    reason: Annotated[str, typer.Option("--reason", help="Why (audited).")] = "operator flatten",
) -> None:
    """Cancel every working order of the account at the broker (whoever placed it), then close
    every net position with a gated FLATTEN order (passes even when HALTED; never over-closes).

    Through the running service when there is one; else through a one-shot gate on IBKR; on
    the sim or fake broker without a service, exit 5. Exit 0 when nothing is left working and
    every closure was sent (or simulated), 1 otherwise.
    """

    async def act(gate: OrderGate) -> FlattenReport:
        report = await gate.flatten()
        await gate.settle()
        return report

    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path, mode=mode)
        client = running_service(settings)
        if client is not None:
            body = {"operator": operator or _operator(), "reason": reason}
            answer = _call_service(
                lambda: client.post("/flatten", body), writes=True, client=client
            )
            _print_flatten("flatten", answer)
            if answer["outcome"] != "ok":
                raise fail(f"flatten: {answer['message']}", ExitCode.FAILURE)
            return
        _needs_broker_here(settings, "flatten")
        report = asyncio.run(with_gate(settings, act, trading_control_for(settings, control_file)))
    _print_flatten("flatten", _flatten_dict(report))
    if not report.ok:
        raise fail(_flatten_failure(report), ExitCode.FAILURE)


def _flatten_dict(report: FlattenReport) -> dict[str, Any]:
    return {
        "cancelled": [_view_dict(v) for v in report.cancelled],
        "still_working": [_view_dict(v) for v in report.still_working],
        "closures": [_result_dict(r) for r in report.closures],
    }


def _print_flatten(title: str, report: Mapping[str, Any]) -> None:
    console = out_console()
    table = Table(title=f"{title}: working orders cancelled at the broker")
    for column in ("client order id", "instrument", "side", "leaves", "after"):
        table.add_column(column)
    left = {v["client_order_id"] for v in report["still_working"]}
    for view in report["cancelled"]:
        after = "STILL WORKING" if view["client_order_id"] in left else "cancelled"
        row = (view["client_order_id"], view["instrument"], view["side"])
        table.add_row(*row, str(view["leaves_qty"]), after)
    if not report["cancelled"]:
        table.add_row("(none working)", "", "", "", "")
    console.print(table)
    console.print(_results_table(f"{title}: closures", list(report["closures"])))


def _flatten_failure(report: FlattenReport) -> str:
    problems = []
    if report.still_working:
        problems.append(f"{len(report.still_working)} order(s) still working at the broker")
    if report.unsent:
        problems.append(f"{len(report.unsent)} of {len(report.closures)} closures were not sent")
    return "; ".join(problems)


# -- halt / resume -----------------------------------------------------------------------------
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the control file).")]


def halt(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    reason: ReasonOption = "operator halt",
    operator: OperatorOption = "",
) -> None:
    """HALT trading, persistently: a running service halts at once (through its control API);
    every gate that starts from now on (`run`, `serve`, `flatten`, an embedding app on the
    same control) and a running `serve` / `run` at its next poll let only closures and
    flattens through, until `resume`."""
    _request(config, profile, audit_path, control_file, TradingState.HALTED, reason, operator)


def resume(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    audit_path: AuditOption = None,
    control_file: ControlFileOption = None,
    reason: ReasonOption = "operator resume",
    operator: OperatorOption = "",
) -> None:
    """Back to ACTIVE, persistently; the explicit resume that also releases the kill switch."""
    _request(config, profile, audit_path, control_file, TradingState.ACTIVE, reason, operator)


def _request(  # noqa: PLR0917  (one private helper for the two commands' options)
    config: Path | None,
    profile: str | None,
    audit_path: Path | None,
    control_file: Path | None,
    state: TradingState,
    reason: str,
    operator: str,
) -> None:
    async def write() -> str:
        control = trading_control_for(settings, control_file)
        try:
            await control.request(state, reason)
        finally:
            await control.close()
        return str(control)

    with exit_on_errors():
        overrides = {} if audit_path is None else {"audit.path": str(audit_path)}
        settings = load_app_settings(config, profile, overrides)
        client = running_service(settings)
        if client is not None:
            endpoint = "/halt" if state is TradingState.HALTED else "/resume"
            body = {"operator": operator or _operator(), "reason": reason}
            answer = _call_service(lambda: client.post(endpoint, body), writes=True, client=client)
            out_console().print(
                f"{answer['trading_state']} through the service at {client.base_url} "
                f"(operator {answer['operator']}; audited there)",
                markup=False,
            )
            return
        where = asyncio.run(write())
    out_console().print(f"requested {state.value} through {where}", markup=False)
    err_console().print(
        "every gate started from now on holds it; a running `ordergate serve` or `run` applies "
        "it at its next control poll",
        markup=False,
    )


def kill(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    mode: ModeOption = None,
    control_file: ControlFileOption = None,
    reason: ReasonOption = "operator kill",
    operator: OperatorOption = "",
) -> None:
    """The kill switch: persist it (HALTED until an explicit `resume`, across restarts), then
    cancel every working order of the account at the broker and flatten every position.

    Through the running service when there is one. Without one, the switch is persisted first
    (so it holds even if the broker cannot be reached), then on IBKR a one-shot gate cancels
    and flattens; on the sim or fake broker there is no account outside `serve`: exit 5 after
    persisting. Exit 0 when the switch is persisted, nothing is left working and every closure
    was sent; 1 otherwise (the switch holds either way once persisted).
    """

    async def engage(control: TradingControl) -> str:
        try:
            await control.request(TradingState.HALTED, reason, kill=True)
        except TradingControlError as exc:  # cancel and flatten anyway; exit 1 says it
            return str(exc)
        finally:
            await control.close()
        return ""

    async def act(gate: OrderGate) -> KillReport:
        report = await gate.kill(reason)
        await gate.settle()
        return report

    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path, mode=mode)
        client = running_service(settings)
        if client is not None:
            body = {"operator": operator or _operator(), "reason": reason}
            answer = _call_service(lambda: client.post("/kill", body), writes=True, client=client)
            out_console().print(
                f"kill switch engaged through the service at {client.base_url}", markup=False
            )
            _print_flatten("kill", answer)
            if answer["outcome"] != "ok":
                raise fail(f"kill: {answer['message']}", ExitCode.FAILURE)
            return
        # Persisted before the broker is reached: the kill holds even if it cannot be.
        control = trading_control_for(settings, control_file)
        error = asyncio.run(engage(control))
        if error:
            err_console().print(f"kill switch NOT persisted: {error}", markup=False)
        else:
            out_console().print(f"kill switch engaged through {control}", markup=False)
        _needs_broker_here(settings, "kill")
        report = asyncio.run(with_gate(settings, act, trading_control_for(settings, control_file)))
    _print_flatten("kill", _flatten_dict(report.flatten))
    problems = [] if report.persisted else [f"not persisted: {report.control_error}"]
    if not report.flatten.ok:
        problems.append(_flatten_failure(report.flatten))
    if problems:
        raise fail("kill: " + "; ".join(problems), ExitCode.FAILURE)


# -- reconcile ---------------------------------------------------------------------------------
def reconcile(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    broker: BrokerOption = None,
    audit_path: AuditOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show the differences; record and send nothing.")
    ] = False,
    operator: OperatorOption = "",
    as_json: JsonOption = False,
) -> None:
    """Compare the gate's state with the broker's; without --dry-run, recover missed fills.

    Through the running service when there is one (its own state); else a one-shot gate on
    IBKR; on the sim or fake broker without a service, exit 5. Exit 0 when there is no
    difference, 1 when there are (like diff(1)). Never sends an order.
    """
    with exit_on_errors():
        settings = cli_settings(config, profile, broker=broker, audit_path=audit_path)
        client = running_service(settings)
        if client is not None:
            if dry_run:
                answer = _call_service(lambda: client.get("/reconcile"), client=client)
            else:
                body = {"operator": operator or _operator(), "reason": "operator reconcile"}
                answer = _call_service(
                    lambda: client.post("/reconcile", body), writes=True, client=client
                )
        else:
            _needs_broker_here(settings, "reconcile")
            # A dry run reads the stored log (what it knows is ours, which executions are
            # applied) and writes nothing, nor the trading control.
            control = (
                _ReadOnlyControl(trading_control_for(settings, None)) if dry_run else None
            )
            report: ReconciliationReport = asyncio.run(
                with_gate(
                    settings,
                    lambda gate: gate.reconcile(dry_run=dry_run),
                    control,
                    read_only_audit=dry_run,
                )
            )
            answer = {
                "dry_run": report.dry_run,
                "clean": report.clean,
                "diffs": [
                    {"kind": d.kind, "key": d.key, "ours": d.ours, "broker": d.broker}
                    for d in report.diffs
                ],
                "recovered": len(report.recovered),
            }
    if as_json:
        _print_json_lines([answer])
    else:
        _print_report(answer)
    if not answer["clean"]:
        raise typer.Exit(int(ExitCode.FAILURE))


def _print_report(report: Mapping[str, Any]) -> None:
    console = out_console()
    title = (
        "reconciliation (dry run: nothing recorded or sent)"
        if report["dry_run"]
        else "reconciliation"
    )
    table = Table(title=title)
    for column in ("kind", "key", "ours", "broker"):
        table.add_column(column)
    for diff in report["diffs"]:
        table.add_row(diff["kind"], diff["key"], diff["ours"], diff["broker"])
    if report["clean"]:
        table.add_row("(no differences)", "", "", "")
    console.print(table)
    if report["recovered"]:
        console.print(f"recovered {report['recovered']} missed fill(s)", markup=False)
    summary = "clean" if report["clean"] else f"{len(report['diffs'])} difference(s)"
    console.print(summary, markup=False)
