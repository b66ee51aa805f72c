"""`ordergate serve`: consume signals from a `SignalSource` until stopped, then summarise.

The source is `signals.kind`: `redis` reads the stream `signals.stream` through the consumer
group `signals.group` (at-least-once, acknowledged after processing); `memory` reads JSON lines
from `--signals-file` (one encoded `Signal` per line; `-` is stdin) so a user can try it. The
service stops on SIGINT/SIGTERM, after `--max-signals` deliveries, or after `--idle-exit` seconds
without one (with a file, after its last line unless a limit says otherwise). It polls the
trading control (`ordergate halt` / `resume` / `kill`; the gate also applies it when it starts)
and runs Strategy C every `--monitor-interval`.

With `[service] enabled = true` (or `--api`) it also serves the control API on
`service.host:service.port` in the same event loop (`ordergate.adapters.http`, docs/operations.md):
its bearer token comes from the variable `service.token_env` names, and serve refuses to start
(exit 2) while that variable is unset.

It is the long-running process for every broker kind (docs/operations.md):
- one per account and audit log: a lock beside the audit (`ordergate.adapters.service_lock`)
  makes a second serve exit 3 naming the holder (pid, host, start time);
- on the sim broker the simulated account is journalled beside the audit (`<audit>.sim.db`,
  `ordergate.adapters.sim.journal`) and rebuilt on start, and the market moves as `[serve]
  market` / `speed` say; the gate adopts the broker's orders, executions and positions on start;
- every `[serve] reconcile_every` seconds it compares its view with the broker's (the
  divergence watch of `SignalService`);
- SIGTERM / SIGINT: the current delivery finishes, no more signals are taken, the events so far
  are drained, working orders are kept or cancelled (`[serve] on_stop`), exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

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
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.cli.ops_cmds import (
    BrokerOption,
    ControlFileOption,
    cli_settings,
    trading_control_for,
)
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.serialization import decode_signal
from ordergate.adapters.service_lock import ServiceLock, ServiceLocked, service_lock_path
from ordergate.adapters.sim.journal import journal_path
from ordergate.adapters.system_clock import SystemClock
from ordergate.application.bootstrap import Application, build_application
from ordergate.application.config import AuditKind, OnStop, Settings, SignalsKind
from ordergate.application.facade import OrderGate
from ordergate.application.service import ServiceOptions, ServiceSummary, SignalService
from ordergate.domain.errors import OrdergateError
from ordergate.ports.signal_source import SignalSource

__all__ = ["register", "serve"]


def register(app: typer.Typer) -> None:
    """Add `serve` to `app`."""
    app.command("serve")(serve)


def serve(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    max_signals: Annotated[
        int | None, typer.Option("--max-signals", min=1, help="Stop after N deliveries.")
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option("--idle-exit", min=0.001, help="Stop after SECONDS without a delivery."),
    ] = None,
    signals_file: Annotated[
        Path | None,
        typer.Option(
            "--signals-file",
            dir_okay=False,
            help="JSON lines of signals for signals.kind = memory ('-' reads stdin).",
        ),
    ] = None,
    broker: BrokerOption = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="dry_run | paper | live (overrides config).")
    ] = None,
    audit_path: Annotated[
        Path | None, typer.Option("--audit", help="SQLite audit file (overrides audit.path).")
    ] = None,
    control_file: ControlFileOption = None,
    monitor_interval: Annotated[
        float, typer.Option("--monitor-interval", min=0.001, help="Seconds between Strategy C.")
    ] = 60.0,
    api: Annotated[
        bool | None,
        typer.Option(
            "--api/--no-api",
            help="Serve the control API on service.host:service.port (default: service.enabled).",
        ),
    ] = None,
    shadow: Annotated[
        bool,
        typer.Option(
            "--shadow", help="Parity mode: a dry_run shadow gate decides on the same signals."
        ),
    ] = False,
    shadow_profile: Annotated[
        str | None,
        typer.Option(
            "--shadow-profile",
            help="The config profile the shadow gate is built with (implies --shadow).",
        ),
    ] = None,
) -> None:
    """Consume signals: each one through the risk gate, audited, acknowledged after processing."""
    with exit_on_errors():
        settings = cli_settings(
            config,
            profile,
            broker=broker,
            audit_path=audit_path,
            mode=mode,
            client_id=None,  # the service trades: broker.client_id as configured (1)
            service_enabled=api,
        )
        token = _api_token(settings)
        shadow_settings = (
            cli_settings(
                config,
                shadow_profile or profile,
                broker=broker,
                audit_path=audit_path,
                mode="dry_run",
                client_id=None,
            )
            if shadow or shadow_profile is not None
            else None
        )
        lines = _read_lines(settings, signals_file)
        if lines is not None and max_signals is None and idle_exit is None:
            # A file is finite: stop after its last line (at once when it has none).
            max_signals, idle_exit = (len(lines), None) if lines else (None, 0.001)
        options = ServiceOptions(
            max_signals=max_signals,
            idle_exit=idle_exit,
            monitor_interval=monitor_interval,
            reconcile_interval=settings.serve.reconcile_every or None,
        )
        started = time.perf_counter()
        try:
            lock = acquire_service_lock(
                settings, account=settings.account_id or "", mode=settings.mode.value
            )
        except ServiceLocked as exc:
            raise fail(str(exc), ExitCode.REFUSED) from None
        with lock:
            summary, verified = asyncio.run(
                _serve(
                    settings, options, lines, control_file, token, shadow_settings=shadow_settings
                )
            )
    _print_summary(settings, summary, time.perf_counter() - started, verified)
    if not verified:
        raise fail("the audit log did not verify after the service stopped", ExitCode.FAILURE)


def _audit_file(settings: Settings) -> Path | None:
    audit = settings.audit
    return Path(audit.path) if audit.kind is AuditKind.SQLITE else None


def acquire_service_lock(settings: Settings, **details: str) -> contextlib.ExitStack:
    """The locks of one serve on this account and audit log, held until the stack closes: the
    lock file (this host) and, for a PostgreSQL audit, its advisory lock (every host sharing
    the database). `ServiceLocked`, naming the holder, when either is taken."""
    stack = contextlib.ExitStack()
    stack.enter_context(ServiceLock.acquire(_lock_path(settings), **details))
    audit = settings.audit
    if audit.kind is AuditKind.POSTGRES and audit.dsn is not None:
        from ordergate.adapters.postgres.service_lock import PostgresServiceLock  # noqa: PLC0415

        try:
            stack.enter_context(
                PostgresServiceLock.acquire(
                    audit.dsn,
                    schema=audit.schema,
                    table=audit.table,
                    password=settings.secrets.postgres_password,
                )
            )
        except BaseException:
            stack.close()
            raise
    return stack


def _lock_path(settings: Settings) -> Path:
    """Beside the SQLite audit file; for another store, named after it in the working folder."""
    audit = settings.audit
    if audit.kind is AuditKind.POSTGRES:
        return service_lock_path(None, name=f"ordergate-{audit.schema}-{audit.table}")
    return service_lock_path(_audit_file(settings))


def _read_lines(settings: Settings, signals_file: Path | None) -> list[str] | None:
    """The signal lines for the memory source (None for Redis)."""
    if settings.signals.kind is SignalsKind.REDIS:
        if signals_file is not None:
            raise fail(
                "--signals-file is for signals.kind = 'memory' (it is 'redis')", ExitCode.BAD_CONFIG
            )
        return None
    if signals_file is None:
        raise fail(
            "signals.kind is 'memory': give --signals-file FILE (JSON lines, '-' for stdin) "
            "or set signals.kind = 'redis'",
            ExitCode.BAD_CONFIG,
        )
    data = sys.stdin.buffer.read() if str(signals_file) == "-" else signals_file.read_bytes()
    # One delivery per line (split on b"\n" only: a Unicode line separator inside a JSON string
    # is not the end of a line). A line that is not UTF-8 is kept, its bad bytes as lone
    # surrogates, and becomes that delivery's own `signal.malformed`, not a crash of the file.
    lines = (raw.rstrip(b"\r").decode("utf-8", "surrogateescape") for raw in data.split(b"\n"))
    return [line for line in lines if line.strip()]


def _source(settings: Settings, lines: list[str] | None) -> SignalSource:
    if lines is None:
        # Imported here: Redis support is the optional `redis` extra.
        from ordergate.adapters.redis.config import RedisConfig  # noqa: PLC0415
        from ordergate.adapters.redis.signal_source import RedisSignalSource  # noqa: PLC0415

        signals = settings.signals
        config = RedisConfig(
            url=signals.url, signal_stream=signals.stream, consumer_group=signals.group
        )
        return RedisSignalSource.from_config(config)
    source = InMemorySignalSource(SystemClock(), decode=decode_signal)
    for line in lines:
        source.push_raw(line)
    return source


async def _serve(
    settings: Settings,
    options: ServiceOptions,
    lines: list[str] | None,
    control_file: Path | None,
    token: str | None = None,
    *,
    shadow_settings: Settings | None = None,
) -> tuple[ServiceSummary, bool]:
    source = _source(settings, lines)
    control = trading_control_for(settings, control_file)
    sim_state = journal_path(_audit_file(settings)) if settings.broker.kind.value == "sim" else None
    try:
        app = await build_application(settings, control=control, sim_state=sim_state)
    except OrdergateError:
        await source.close()
        raise
    except Exception as exc:  # the container's own errors (e.g. a kind not wired here)
        await source.close()
        raise fail(
            f"cannot build the application for broker.kind={settings.broker.kind.value!r}: {exc}",
            ExitCode.BAD_CONFIG,
        ) from None
    try:
        async with app, _shadow(app, shadow_settings) as shadow:
            gate = app.gate
            # The gate holds the control: applied when it started, polled by the service.
            service = SignalService(gate, source, SystemClock(), options=options, shadow=shadow)
            stop = asyncio.Event()
            driver = app.market_driver()
            adoption = gate.adoption
            err_console().print(
                f"serving signals ({settings.signals.kind.value}) into {settings.mode.value} / "
                f"{settings.broker.kind.value}; control: {control}; "
                + (f"market: {driver.market} x{driver.speed:g}; " if driver is not None else "")
                + (
                    f"adopted {len(adoption.adopted)} orders ({len(adoption.foreign)} foreign), "
                    f"{len(gate.positions())} positions; "
                    if adoption is not None
                    else ""
                )
                + "Ctrl-C stops",
                markup=False,
            )
            market: asyncio.Task[None] | None = None
            async with _control_api(settings, gate, token):
                with _stop_on_signals(stop):
                    if driver is not None:
                        market = asyncio.create_task(driver.run(stop))
                    try:
                        summary = await service.run(stop)
                    finally:
                        stop.set()  # the market stops with the service
                        if market is not None:
                            await market
            await gate.settle()  # drain: every event so far is applied and audited
            if settings.serve.on_stop is OnStop.CANCEL:
                await _cancel_working(gate)
            return summary, (await gate.verify_audit()).ok
    finally:
        await source.close()


@contextlib.asynccontextmanager
async def _shadow(app: Application, settings: Settings | None) -> AsyncIterator[OrderGate | None]:
    """Parity mode's dry_run shadow gate beside `app` (None without --shadow)."""
    if settings is None:
        yield None
        return
    async with await app.shadow(settings) as shadow:
        yield shadow.gate


def _api_token(settings: Settings) -> str | None:
    """The control API's token when the API is enabled (checked before anything starts)."""
    if not settings.service.enabled:
        return None
    from ordergate.adapters.http.service import api_token  # noqa: PLC0415  (the service extra)

    return api_token(settings, os.environ)


@contextlib.asynccontextmanager
async def _control_api(
    settings: Settings, gate: OrderGate, token: str | None
) -> AsyncIterator[None]:
    """The control API of `gate` while the service runs (nothing when it is not enabled)."""
    if token is None:
        yield
        return
    from ordergate.adapters.http.dashboard import observability_router  # noqa: PLC0415
    from ordergate.adapters.http.service import control_api  # noqa: PLC0415

    routers = [observability_router(gate)]
    async with control_api(settings, gate, token, extra_routers=routers) as server:
        err_console().print(
            f"control API on {server.url} (writes need the token in "
            f"{settings.service.token_env}; OpenAPI at {server.url}/openapi.json; dashboard "
            f"at {server.url}/, metrics at {server.url}/metrics)",
            markup=False,
        )
        yield


async def _cancel_working(gate: OrderGate) -> None:
    """`[serve] on_stop = "cancel"`: cancel every working order of this gate, through the gate
    (each cancel audited), then wait for the broker's answers."""
    for order in list(gate.portfolio.working_orders()):
        await gate.cancel(order.client_order_id)
    await gate.settle()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop`: the current delivery finishes, then the service stops."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _print_summary(
    settings: Settings, summary: ServiceSummary, seconds: float, verified: bool
) -> None:
    console = out_console()
    table = Table(title="ordergate serve", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    statuses = summary.status_counts()
    rows = [
        ("mode / broker", f"{settings.mode.value} / {settings.broker.kind.value}"),
        ("signal source", settings.signals.kind.value),
        ("deliveries", str(summary.deliveries)),
        ("signals through the gate", str(summary.gated)),
        ("malformed (quarantined)", str(summary.malformed)),
        ("rejected (quarantined)", str(summary.rejected)),
        ("duplicates (acked)", str(summary.duplicates)),
        ("failed (acked)", str(summary.failed)),
        ("not acknowledged", str(summary.unacked)),
        ("orders by status", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "-"),
        ("Strategy C cycles / closures", f"{summary.monitor_cycles} / {summary.closure_count}"),
        ("trading control changes", str(summary.control_changes)),
        ("parity match / mismatch", f"{summary.parity_matches} / {summary.parity_mismatches}"),
        ("stopped because", summary.stopped_because or "-"),
        ("audit verify", "OK" if verified else "FAILED"),
        ("elapsed", f"{seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
