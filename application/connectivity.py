"""`ConnectivityGuard`: losing the broker reduces risk; only a matching resync gives it back.

Every broker reports its link through `ConnectionStateChanged` events on its stream, and the
event pump hands each one to this guard, whatever the broker kind:

- **Lost** — `DEGRADED` (IB 1100: IB and the gateway lost each other; 2110: the gateway and its
  server), `RECONNECTING` (the socket dropped; the adapter reconnects) or `DISCONNECTED` (the
  link is gone). If trading is ACTIVE it moves to REDUCING at once: only orders that reduce a
  position, closures and flattens pass. The change is audited as `risk.trading_state` with the
  broker's code (`code`: 1100, 2110, or null for a lost socket) and published.
- **Restored** — `CONNECTED` after a loss. The adapter has resynced by then (IB: 1102 resyncs,
  1101 runs a full resync, a reconnect resyncs; each publishes CONNECTED only after its resync).
  The guard then checks the result against the broker itself: `verify` (the facade wires
  `Reconciler.reconcile(dry_run=False)`) applies executions the broker has and we never applied,
  and compares positions and open orders. Only when those match does the previous state come
  back (audited with the restoring code). A mismatch keeps REDUCING, is audited as
  `broker.resync_mismatch` with every difference, and the next restoration (a later 1102/1101 or
  reconnect) checks again; an operator may also decide with `resume`.

- **Refused** — `REFUSED`: the broker session disagrees with the configured mode or account
  (a paper configuration on a gateway logged into a live account, a live one on a paper
  account, an account the gateway does not manage). The adapter has hung up and sends nothing;
  the guard audits `broker.account_mismatch` and HALTs trading. Nothing gives it back but an
  operator's `resume` (after fixing the gateway or the configuration). `refuse()` does the same
  for a refusal raised by the first connect, before the pump runs.

The guard restores only what it changed: if trading was already REDUCING or HALTED when the link
went, or an operator (or the kill switch) changed the state during the outage, it leaves the
state alone — but it still runs the check after every restoration, so executions missed while
the link was down are recovered whoever holds the state. It never sends anything to the broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from ordergate.application.audit_records import system_record
from ordergate.application.desk import TradingDesk
from ordergate.application.logs import log_state_change
from ordergate.domain.audit import AuditRecord
from ordergate.domain.events import ConnectionState, ConnectionStateChanged, TradingStateChanged
from ordergate.domain.risk.decision import TradingState
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher

if TYPE_CHECKING:
    from ordergate.application.reconcile import ReconciliationReport

__all__ = ["LOST_STATES", "ConnectivityGuard", "ResyncCheck"]

LOST_STATES = frozenset({
    ConnectionState.DEGRADED,
    ConnectionState.RECONNECTING,
    ConnectionState.DISCONNECTED,
})
"""Connection states in which new risk must not be taken."""

ResyncCheck = Callable[[], Awaitable["ReconciliationReport"]]
"""Compares our state with the broker's after a resync (recovering missed executions)."""

_CHECKED_KINDS = frozenset({"position", "open_order"})  # executions are recovered, not diffs


def _describe(event: ConnectionStateChanged) -> str:
    code = "" if event.code is None else f"IB {event.code}, "
    detail = f": {event.detail}" if event.detail else ""
    return f"{code}{event.state.value}{detail}"


class ConnectivityGuard:
    """Moves trading to REDUCING when the broker link is lost and back after a matching resync
    (see the module docstring). One per `TradingDesk`; the event pump calls `observe`."""

    def __init__(
        self,
        *,
        desk: TradingDesk,
        audit: AuditLog,
        clock: Clock,
        publisher: EventPublisher,
        verify: ResyncCheck | None = None,
    ) -> None:
        self._desk = desk
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self._verify = verify
        self.link_lost = False
        self._held: TradingStateChanged | None = None  # the REDUCING this guard set
        self._held_decision = 0  # `trading.decisions` right after it was set

    def verify_with(self, verify: ResyncCheck) -> None:
        """Set the check that must pass before a restored link gives the previous state back."""
        self._verify = verify

    @property
    def holding(self) -> bool:
        """True while trading is REDUCING because of the link (and nobody changed it since)."""
        return self._held is not None and self._still_ours(self._held)

    async def observe(self, event: ConnectionStateChanged) -> None:
        """React to one connection event (already recorded by the pump)."""
        if event.state is ConnectionState.REFUSED:
            await self.refuse(event.detail)
        elif event.state in LOST_STATES:
            await self._lost(event)
        elif event.state is ConnectionState.CONNECTED and (
            self.link_lost or self._held is not None
        ):
            await self._restored(event)

    async def refuse(self, detail: str) -> None:
        """The broker session was refused for its accounts: audit it and HALT (see above)."""
        self.link_lost = True
        self._held = None  # never given back by a reconnect: an operator decides
        now = self._clock.now()
        await self._audit.append(
            AuditRecord(
                "broker.account_mismatch",
                now,
                {"detail": detail, "trading_state": TradingState.HALTED.value},
            )
        )
        change = self._desk.trading.halt(now, f"broker session refused: {detail}")
        if change is not None:
            await self._emit(change)

    async def _lost(self, event: ConnectionStateChanged) -> None:
        self.link_lost = True
        trading = self._desk.trading
        if self.holding or trading.state is not TradingState.ACTIVE:
            return  # already restricted: by an earlier loss, an operator or the kill switch
        change = trading.reduce(
            self._clock.now(), f"broker connectivity lost ({_describe(event)})"
        )
        if change is not None:
            self._held = attrs.evolve(change, code=event.code)
            self._held_decision = trading.decisions
            await self._emit(self._held)

    async def _restored(self, event: ConnectionStateChanged) -> None:
        self.link_lost = False
        held = self._held
        if held is None or not self._still_ours(held):
            # The state is not this guard's to give back (it was already restricted when the
            # link went, or someone decided meanwhile), but what happened while the link was
            # down must still be learned: the check recovers the fills nobody heard.
            self._held = None
            await self._check()
            return
        problems = await self._check()
        if not self._still_ours(held):  # decided while the broker was being asked
            self._held = None
            return
        if problems:
            await self._audit.append(
                AuditRecord(
                    "broker.resync_mismatch",
                    self._clock.now(),
                    {
                        "code": event.code,
                        "detail": event.detail,
                        "trading_state": TradingState.REDUCING.value,
                        "differences": problems,
                    },
                )
            )
            return
        change = self._desk.trading.transition(
            held.previous,
            self._clock.now(),
            f"broker connectivity restored ({_describe(event)}); the resync matched the broker",
        )
        self._held = None
        if change is not None:
            await self._emit(attrs.evolve(change, code=event.code))

    async def _check(self) -> list[str]:
        """What still differs from the broker after the resync (empty: it matched)."""
        if self._verify is None:
            return ["no resync check is configured: trading stays REDUCING until resumed"]
        try:
            report = await self._verify()
        except Exception as exc:  # the broker could not be asked: that is no match
            return [f"the resync check failed: {type(exc).__name__}: {exc}"]
        return [
            f"{d.kind} {d.key}: ours {d.ours}, broker {d.broker}"
            for d in report.diffs
            if d.kind in _CHECKED_KINDS
        ]

    def _still_ours(self, held: TradingStateChanged) -> bool:
        """True while nobody has asked for any state since the guard set REDUCING (an operator
        who asks for REDUCING again during the outage has decided: it stays)."""
        trading = self._desk.trading
        return trading.state is held.state and trading.decisions == self._held_decision

    async def _emit(self, change: TradingStateChanged) -> None:
        await self._audit.append(system_record(change, self._clock.now()))
        log_state_change(change)
        await self._publisher.publish(change)
