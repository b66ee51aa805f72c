"""The composition root: builds an `OrderGate` and its adapters from `Settings`.

This is the only application module that imports adapters and dependency_injector (an
import-linter exception says so). Each port is a `providers.Selector` keyed by configuration:
broker `sim | ibkr | fake`, market data alike, audit
`sqlite | postgres | memory`, publisher `redis | memory`. Connections that must be opened and
closed are `providers.Resource`s: the selected ones are opened when the gate is built.

`build_application` returns an `Application` handle, never the container: the container holds
the broker, and no object a documented entry point returns may lead to `Broker.submit` around
the risk gate. The handle owns every resource and closes them on exit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import attrs
from dependency_injector import containers, providers

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.control import (
    FileTradingControl,
    RedisTradingControl,
    default_control_path,
)
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.observability.metrics import PrometheusMetrics
from ordergate.adapters.observability.webhook import WebhookAlertSink
from ordergate.adapters.read_through_audit import ReadThroughAuditLog
from ordergate.adapters.serialization import hmac_key_from_env
from ordergate.adapters.sim.bars import from_units, load_bundled_daily_bars, load_daily_bars_csv
from ordergate.adapters.sim.driver import SimMarketDriver
from ordergate.adapters.sim.journal import SimJournal
from ordergate.adapters.sim.session import DAILY_BAR, SimSession, atm_call
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.adapters.system_clock import SystemClock
from ordergate.application.alerts import AlertRules
from ordergate.application.config import AuditKind, Mode, Settings, SignalsKind, load_settings
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.results import ExecutionMode
from ordergate.application.session import (
    MomentumStrategyA,
    OptionPicker,
    SessionPacer,
    Strategy,
)
from ordergate.application.strategies import load_strategy
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import OptionContract, Stock
from ordergate.domain.signals import SignalWindow
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.event_publisher import EventPublisher
from ordergate.ports.trading_control import TradingControl

if TYPE_CHECKING:
    # The IBKR adapter (and ib_async under it) and the emulator's control client are imported
    # only when the ibkr broker is selected: a sim-only application never loads them.
    from ordergate.adapters.gateway_sim.control import ReplayControlClient
    from ordergate.adapters.ibkr import IbkrBroker, IbkrMarketData
    from ordergate.adapters.ibkr.replay import GatewayReplayPacer

__all__ = [
    "SIM_ACCOUNT",
    "Application",
    "build_application",
    "open_gate",
    "sim_session",
    "trading_control",
]


async def _sqlite_audit(
    settings: Settings, environ: Mapping[str, str], read_only: bool
) -> AsyncIterator[AuditLog]:
    key = hmac_key_from_env(settings.audit.hmac_key_env, environ)
    log: AuditLog
    if not read_only:
        log = await SqliteAuditLog.open(settings.audit.path, hmac_key=key)
    elif Path(settings.audit.path).is_file():
        stored = await SqliteAuditLog.open(settings.audit.path, hmac_key=key, read_only=True)
        log = ReadThroughAuditLog(stored, InMemoryAuditLog())
    else:  # nothing stored yet: a read knows nothing, and creates no file
        log = InMemoryAuditLog()
    try:
        yield log
    finally:
        await log.close()


async def _postgres_audit(
    settings: Settings, environ: Mapping[str, str], read_only: bool
) -> AsyncIterator[AuditLog]:
    # Imported here: PostgreSQL support is the optional `postgres` extra.
    from ordergate.adapters.postgres.audit_log import PostgresAuditLog  # noqa: PLC0415

    audit = settings.audit
    if audit.dsn is None:
        raise ValueError("audit.dsn: required when audit.kind is 'postgres'")
    log: AuditLog = await PostgresAuditLog.open(
        audit.dsn,
        schema=audit.schema,
        table=audit.table,
        password=settings.secrets.postgres_password,
        hmac_key=hmac_key_from_env(audit.hmac_key_env, environ),
        read_only=read_only,
    )
    if read_only:
        log = ReadThroughAuditLog(log, InMemoryAuditLog())
    try:
        yield log
    finally:
        await log.close()


async def _memory_audit() -> AsyncIterator[AuditLog]:
    log = InMemoryAuditLog()
    try:
        yield log
    finally:
        await log.close()


async def _redis_publisher(
    settings: Settings, environ: Mapping[str, str]
) -> AsyncIterator[EventPublisher]:
    # Imported here: Redis support is the optional `redis` extra.
    from ordergate.adapters.redis.config import RedisConfig, connect  # noqa: PLC0415
    from ordergate.adapters.redis.publisher import RedisStreamPublisher  # noqa: PLC0415

    config = RedisConfig(url=settings.publisher.url, stream_maxlen=settings.publisher.stream_maxlen)
    publisher = RedisStreamPublisher(
        connect(config, environ),
        prefix=settings.publisher.prefix,
        maxlen=config.stream_maxlen,
        owns_client=True,
    )
    try:
        yield publisher
    finally:
        await publisher.close()


async def _memory_publisher(settings: Settings) -> AsyncIterator[EventPublisher]:
    publisher = InMemoryPublisher(prefix=settings.publisher.prefix)
    try:
        yield publisher
    finally:
        await publisher.close()


SIM_ACCOUNT = "DU0000000"
"""The simulated account of a replayed session (and of the emulator replaying it)."""


def sim_session(settings: Settings, *, account_id: str = SIM_ACCOUNT) -> SimSession:
    """The simulated market `settings.session` describes: `ordergate run` on the sim broker and
    `ordergate gateway-sim --replay` build it with this one function, so both replay the same
    bars with the same seed. `account_id` names the simulated account (the emulator is logged
    into it)."""
    session = settings.session
    return SimSession.build(
        session.symbols,
        bars=session.bars,
        bars_file=session.bars_file,
        seed=session.seed,
        starting_cash=session.starting_cash,
        exercise_threshold=session.exercise_threshold,
        account_id=account_id,
    )


def _fake_clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


def _ibkr_broker(settings: Settings, known_execution_ids: frozenset[str]) -> IbkrBroker:
    from ordergate.adapters.ibkr import IbkrBroker  # noqa: PLC0415  (ib_async: only when selected)
    from ordergate.adapters.ibkr.config import IbkrConfig  # noqa: PLC0415
    from ordergate.adapters.ibkr.health import TradingMode  # noqa: PLC0415

    broker = settings.broker
    expected = {"paper": TradingMode.PAPER, "live": TradingMode.LIVE}.get(settings.mode.value)
    config = IbkrConfig(
        operator_id=settings.operator_id,
        host=broker.host,
        port=broker.port,
        client_id=broker.client_id,
        account=settings.account_id or "",
        expected_mode=expected,
        connect_timeout=broker.connect_timeout,
        max_requests_per_second=broker.max_requests_per_second,
    )
    return IbkrBroker(
        config,
        known_execution_ids=known_execution_ids,
        request_timeout=broker.request_timeout,
    )


async def known_execution_ids(audit: AuditLog) -> frozenset[str]:
    """Execution ids already applied in earlier runs (from the audit log), so a restarted
    process never applies a fill twice."""
    ids = set()
    for kind in ("broker.fill", "broker.fill_recovered"):
        for entry in await audit.query(kind=kind):
            execution_id = entry.record.payload.get("execution_id")
            if isinstance(execution_id, str):
                ids.add(execution_id)
    return frozenset(ids)


def _ibkr_market_data(broker: IbkrBroker) -> IbkrMarketData:
    from ordergate.adapters.ibkr import IbkrMarketData  # noqa: PLC0415

    return IbkrMarketData.from_broker(broker)


async def _replay_control(settings: Settings) -> AsyncIterator[ReplayControlClient]:
    from ordergate.adapters.gateway_sim.control import ReplayControlClient  # noqa: PLC0415

    broker = settings.broker
    control = await ReplayControlClient.connect(
        broker.host, broker.port, timeout=broker.request_timeout
    )
    try:
        yield control
    finally:
        await control.close()


def _fake_instruments(settings: Settings) -> list[Stock]:
    return [Stock(symbol) for symbol in settings.session.symbols]


def _session_closes(settings: Settings) -> dict[str, Decimal]:
    """The last close of every session symbol in the session's data (`session.bars_file`, else
    the bundled bars): what the fake market quotes and the fake broker fills at."""
    session = settings.session
    closes = {}
    for symbol in session.symbols:
        bars = (
            load_daily_bars_csv(Path(session.bars_file), symbol)
            if session.bars_file is not None
            else load_bundled_daily_bars(symbol)
        )
        if bars:
            closes[symbol] = from_units(bars[-1].close)
    return closes


def _fake_broker(settings: Settings, clock: FakeClock) -> FakeBroker:
    broker = FakeBroker(clock, _fake_instruments(settings))
    for symbol, price in _session_closes(settings).items():
        broker.set_price(Stock(symbol), price)
    return broker


def _fake_market_data(settings: Settings, clock: FakeClock) -> FakeMarketData:
    """The fake market quotes each session symbol at its last close in the session's data,
    stamped at the fake clock (which stands still: the quote stays fresh), so `serve` and the
    one-shot commands on the fake broker can size and check orders; it never invents a price."""
    market = FakeMarketData(clock, _fake_instruments(settings))
    for symbol, price in _session_closes(settings).items():
        market.set_price(Stock(symbol), price)
    return market


class Adapters(containers.DeclarativeContainer):
    """Every adapter, chosen by `config` (the `Settings` kinds) and `settings`. Private to the
    composition root: nothing outside this module gets the container (it holds the broker)."""

    config = providers.Configuration(strict=True)
    settings = providers.Dependency(instance_of=Settings)
    environ: providers.Dependency[Mapping[str, str]] = providers.Dependency()  # os.environ

    known_execution_ids: providers.Object[frozenset[str]] = providers.Object(frozenset())
    # True for a one-shot read: the stored audit log is opened read-only (ReadThroughAuditLog).
    read_only_audit: providers.Object[bool] = providers.Object(False)

    sim = providers.Singleton(sim_session, settings)
    ibkr = providers.Singleton(_ibkr_broker, settings, known_execution_ids)
    fake_clock = providers.Singleton(_fake_clock)
    replay_control = providers.Resource(_replay_control, settings)
    replay_pacer: providers.Object[GatewayReplayPacer | None] = providers.Object(None)

    clock = providers.Selector(
        config.broker.kind,
        sim=providers.Callable(lambda s: s.clock, sim),
        fake=fake_clock,
        ibkr=providers.Singleton(SystemClock),
    )
    broker = providers.Selector(
        config.broker.kind,
        sim=providers.Callable(lambda s: s.broker, sim),
        ibkr=ibkr,
        fake=providers.Singleton(_fake_broker, settings, fake_clock),
    )
    market_data = providers.Selector(
        config.market_data.kind,
        sim=providers.Callable(lambda s: s.market_data, sim),
        ibkr=providers.Callable(_ibkr_market_data, ibkr),
        fake=providers.Singleton(_fake_market_data, settings, fake_clock),
    )
    audit = providers.Selector(
        config.audit.kind,
        sqlite=providers.Resource(_sqlite_audit, settings, environ, read_only_audit),
        postgres=providers.Resource(_postgres_audit, settings, environ, read_only_audit),
        memory=providers.Resource(_memory_audit),
    )
    publisher = providers.Selector(
        config.publisher.kind,
        redis=providers.Resource(_redis_publisher, settings, environ),
        memory=providers.Resource(_memory_publisher, settings),
    )


def trading_control(settings: Settings, control_file: Path | None = None) -> TradingControl:
    """Where the operator's trading-state request is kept for `settings`: what `ordergate
    halt` / `resume` / `kill` write and every gate built here reads when it starts.

    `control_file` wins; else Redis (key `<signals.stream>:control` on `signals.url`) when
    `signals.kind` is redis; else a file beside the SQLite audit file (`audit.db` →
    `audit.control.json`), or `ordergate-control.json` in the working folder for other stores.
    """
    if control_file is not None:
        return FileTradingControl(control_file)
    signals = settings.signals
    if signals.kind is SignalsKind.REDIS:
        return RedisTradingControl.from_url(signals.url, key=f"{signals.stream}:control")
    audit = settings.audit
    return FileTradingControl(
        default_control_path(audit.path if audit.kind is AuditKind.SQLITE else None)
    )


def gate_options(settings: Settings, *, replay: bool = False) -> GateOptions:
    """The facade's options for `settings`. Replayed sessions (the sim broker, or `replay` — IB
    against the emulator replaying a market) decide on daily bars."""
    daily = settings.broker.kind.value == "sim" or replay
    return GateOptions(
        mode=ExecutionMode(settings.mode.value),
        operator_id=settings.operator_id,
        starting_cash=settings.session.starting_cash,
        limits=settings.risk.to_limits(),
        breakers=settings.risk.to_breaker_config(),
        strategy_c=settings.strategy_c.to_config(),
        timeout=settings.broker.request_timeout,
        connect_timeout=settings.broker.connect_timeout,
        staleness_seconds=(
            3 * 86_400 if daily else settings.market_data.staleness_seconds
        ),  # a replayed daily close is "fresh" until the next session's bar
        snapshot_window=timedelta(days=120) if daily else timedelta(hours=1),
        snapshot_bar_size=(
            (DAILY_BAR if settings.broker.kind.value == "sim" else timedelta(days=1))
            if daily
            else timedelta(minutes=1)
        ),
        calendar=xnys_calendar(),
        alerts=AlertRules(
            enabled=frozenset(settings.alerts.rules),
            reconnects=settings.alerts.reconnects,
            reconnect_window=timedelta(seconds=settings.alerts.reconnect_window),
        ),
        # A replayed daily market moves a trading day at a time: a signal stamped at the last
        # close the producer saw stays valid across one step, a long weekend included.
        signal_window=SignalWindow(max_age=timedelta(days=5)) if daily else SignalWindow(),
    )


async def build_application(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    *,
    replay: bool = False,
    control: TradingControl | None = None,
    sim_state: Path | None = None,
    read_only_audit: bool = False,
) -> Application:
    """Open the adapters `settings` selects and build the gate; the `Application` handle owns
    them all. Use it as `async with await build_application(settings) as app:` (the gate is
    started on entry; everything is stopped and released on exit), or call `close()`.

    The gate honours the operator's persisted trading state, read from `control` (default:
    `trading_control(settings)`; the handle closes it): a halt or kill requested before it
    starts holds from its first order.

    With `replay` and the ibkr broker, the session replays the market of an emulator started
    with `ordergate gateway-sim --replay`: its control channel is opened and the gate's clock
    follows the emulator's simulated time (see `Application.session_pacer`).

    With `sim_state` and the sim broker (`ordergate serve`), the simulated account is kept in
    that journal (`ordergate.adapters.sim.journal`): it is rebuilt from it here, before the
    gate starts, and every later change is appended; `Application.market_driver()` moves the
    market as `settings.serve` says.

    With `read_only_audit` (one-shot reads such as `ordergate reconcile --dry-run`), the stored
    audit log is opened read-only and what the gate records while it reads is kept in memory
    and discarded (`ReadThroughAuditLog`): nothing is written. Such a gate must not trade.
    """
    env = os.environ if environ is None else environ
    container = Adapters(settings=settings, environ=env)
    container.config.from_dict(
        {
            "broker": {"kind": settings.broker.kind.value},
            "market_data": {"kind": settings.market_data.kind.value},
            "audit": {"kind": settings.audit.kind.value},
            "publisher": {"kind": settings.publisher.kind.value},
        }
    )
    channel = control if control is not None else trading_control(settings)
    metrics = PrometheusMetrics()
    driver: SimMarketDriver | None = None
    journal: SimJournal | None = None
    try:
        # Only the selected resources are opened (calling a Resource provider initialises it);
        # `init_resources()` would open every backend, chosen or not.
        if read_only_audit:
            container.read_only_audit.override(providers.Object(True))
        audit = await container.audit()
        if settings.broker.kind.value == "ibkr":
            known = await known_execution_ids(audit)
            container.known_execution_ids.override(providers.Object(known))
            if replay:
                from ordergate.adapters.ibkr.replay import GatewayReplayPacer  # noqa: PLC0415

                replay_channel = await container.replay_control.async_()
                pacer = await GatewayReplayPacer.open(replay_channel, container.ibkr())
                container.replay_pacer.override(providers.Object(pacer))
                container.clock.override(providers.Object(pacer.clock))
        if settings.broker.kind.value == "sim" and sim_state is not None:
            journal = SimJournal.open(sim_state, sim_identity(settings))
            session = container.sim()
            driver = SimMarketDriver(
                session,
                market=settings.serve.market.value,
                speed=settings.serve.speed,
                seed=settings.session.seed,
                journal=journal,
            )
            driver.restore()
            session.broker.on_command = journal.append
        ports = Ports(
            broker=container.broker(),
            market_data=container.market_data(),
            audit=audit,
            clock=container.clock(),
            publisher=await container.publisher(),
            control=channel,
            metrics=metrics,
            alerts=_alert_sink(settings),
            market=container.sim().pacer if settings.broker.kind.value == "sim" else None,
        )
    except BaseException:
        await channel.close()
        await _shutdown(container)
        if journal is not None:
            journal.close()
        raise
    gate = OrderGate(ports, gate_options(settings, replay=replay))
    metrics.watch(gate)
    return Application(settings, container, gate, channel, metrics, driver=driver, journal=journal)


def sim_identity(settings: Settings) -> dict[str, object]:
    """What a simulated account's journal must have been made with to be replayed."""
    session = settings.session
    return {
        "symbols": list(session.symbols),
        "bars": session.bars,
        "bars_file": session.bars_file,
        "seed": session.seed,
        "starting_cash": str(session.starting_cash),
        "market": settings.serve.market.value,
    }


def _alert_sink(settings: Settings) -> WebhookAlertSink | None:
    """The webhook `[alerts]` names (None: no alerts)."""
    alerts = settings.alerts
    if alerts.webhook_url is None:
        return None
    return WebhookAlertSink(
        alerts.webhook_url,
        queue=alerts.queue,
        retries=alerts.retries,
        backoff=alerts.backoff,
        timeout=alerts.timeout,
    )


@contextlib.asynccontextmanager
async def open_gate(
    config: Settings | str | os.PathLike[str] | None = None,
    profile: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[OrderGate]:
    """`ordergate.open`: the gate for `config` (a `Settings`, the path of a TOML file, or None
    for `$ORDERGATE_CONFIG` else the defaults) with `profile` applied, running for the `async
    with` block; every resource it opened is closed on exit.

    What the selected adapters need from this machine (a writable audit file, an extra, the
    simulator's bars, the audit key variable) is checked first: `ConfigError` naming each key.
    """
    # Imported here: the preflight checks are the adapters' (the composition root may use them).
    from ordergate.adapters.preflight import check_can_start  # noqa: PLC0415

    if isinstance(config, Settings):
        if profile is not None:
            raise InvalidValue(
                "profile", profile, "applies to a config file; pass the path, not Settings"
            )
        settings = config
    else:
        settings = load_settings(config, profile=profile, environ=environ)
    check_can_start(settings)
    async with await build_application(settings, environ) as app:
        yield app.gate


async def _shutdown(container: Adapters) -> None:
    result = container.shutdown_resources()
    if result is not None:
        await result


class Application:
    """What `build_application` returns: the running application, owner of every resource.

    It offers the `OrderGate` (every order goes through its risk gate) and what a replayed
    session needs (`session_pacer`, `session_barrier`, `session_strategies`); it never offers
    the broker, the container or any other way to `Broker.submit`. Use as `async with`: the
    gate starts on entry; on exit the gate stops (working orders stay at the broker) and every
    connection the composition root opened is closed.
    """

    def __init__(
        self,
        settings: Settings,
        container: Adapters,
        gate: OrderGate,
        control: TradingControl | None = None,
        metrics: PrometheusMetrics | None = None,
        *,
        driver: SimMarketDriver | None = None,
        journal: SimJournal | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else PrometheusMetrics()
        """The gate's Prometheus metrics; mount `metrics.registry` to export them."""
        self.__driver = driver
        self.__journal = journal
        self.__container = container
        self.__gate = gate
        self.__control = control
        self.__closed = False

    @property
    def gate(self) -> OrderGate:
        """The facade: submit, modify, cancel, close, monitor, reconcile, halt/resume."""
        return self.__gate

    async def __aenter__(self) -> Application:
        try:
            await self.__gate.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the gate if it runs, then release every resource; idempotent."""
        if self.__closed:
            return
        self.__closed = True
        try:
            if self.__gate.started_at is not None:
                await self.__gate.stop()  # closes the trading control too
            elif self.__control is not None:
                await self.__control.close()
        finally:
            await _shutdown(self.__container)
            if self.__journal is not None:
                self.__journal.close()

    async def shadow(self, settings: Settings | None = None) -> Application:
        """Parity mode (`ordergate serve --shadow`, `ordergate.application.parity`): a second
        gate in `dry_run` on `settings` (default: this application's; e.g. another profile's risk
        limits), to decide on the same signals as this one. Full gate, nothing sent: its broker
        is a fake account of its own that never receives an order, it reads this application's
        clock and market data (the same quotes), and it has its own in-memory audit log and
        publisher and no trading control, so nothing of this application's changes. Enter it
        with `async with`, like this one."""
        base = settings if settings is not None else self.settings
        shadow_settings = attrs.evolve(base, mode=Mode.DRY_RUN)
        container = self.__container
        broker = FakeBroker(
            FakeClock(self.__gate.now),
            _fake_instruments(shadow_settings),
            account_id=shadow_settings.account_id or SIM_ACCOUNT,
        )
        ports = Ports(
            broker=broker,
            market_data=container.market_data(),
            audit=InMemoryAuditLog(),
            clock=container.clock(),
            publisher=InMemoryPublisher(prefix=shadow_settings.publisher.prefix),
            metrics=PrometheusMetrics(),
        )
        replay = container.replay_pacer() is not None
        gate = OrderGate(ports, gate_options(shadow_settings, replay=replay))
        return Application(shadow_settings, Adapters(settings=shadow_settings), gate)

    def market_driver(self) -> SimMarketDriver | None:
        """What moves the simulated market of `ordergate serve` (None off the sim broker, or
        when built without `sim_state`). It steps the market only; it offers no order path."""
        return self.__driver

    def session_pacer(self) -> SessionPacer:
        """What moves the market of a replayed session: the simulator's day-by-day replay, or
        the emulator's (for ibkr, after `build_application(..., replay=True)`)."""
        settings = self.settings
        if settings.broker.kind.value == "sim":
            pacer: SessionPacer = self.__container.sim().pacer
            return pacer
        replayed = self.__container.replay_pacer()
        if replayed is None:
            raise InvalidValue(
                "broker.kind",
                settings.broker.kind.value,
                "replays a session on the simulated broker, or on ibkr against "
                "`ordergate gateway-sim --replay`",
            )
        return replayed

    def session_barrier(self) -> Callable[[], Awaitable[None]] | None:
        """For a broker in another process, a round trip that returns once its events so far
        have arrived (`SessionRunner`'s barrier); None in process."""
        if self.settings.broker.kind.value != "ibkr":
            return None
        pacer = self.__container.replay_pacer()
        return None if pacer is None else pacer.barrier

    def session_strategies(self) -> list[Strategy]:
        """The strategy `session.strategy` names (`package.module:Class`, built on the
        session's stocks), else Strategy A on every session symbol; in a replayed session AAPL
        trades calls instead so Strategy C has option positions to close (on the simulator the
        call is listed in process; through IB the emulator lists the contract when the gate
        qualifies it)."""
        settings = self.settings
        kind = settings.broker.kind.value
        all_stocks = [Stock(s) for s in settings.session.symbols]
        if settings.session.strategy is not None:
            return [load_strategy(settings.session.strategy, all_stocks)]
        if kind == "sim":
            picker: OptionPicker = _SimCallLister(self.__container.sim())
        elif kind == "ibkr" and self.__container.replay_pacer() is not None:
            picker = atm_call
        else:
            return [MomentumStrategyA(all_stocks)]
        options = [s for s in all_stocks if s.symbol == "AAPL"]
        stocks = [s for s in all_stocks if s.symbol != "AAPL"]
        strategies: list[Strategy] = []
        if stocks:
            strategies.append(MomentumStrategyA(stocks))
        if options:
            strategies.append(MomentumStrategyA(options, name="A-calls", option_picker=picker))
        return strategies


class _SimCallLister:
    """`SimSession.pick_call` without handing the strategy the session (which holds the
    simulated broker)."""

    def __init__(self, session: SimSession) -> None:
        self.__session = session

    def __call__(self, underlying: Stock, spot: Decimal, now: datetime) -> OptionContract | None:
        return self.__session.pick_call(underlying, spot, now)
