"""The operator's trading state, kept in step with the persisted request (`TradingControl`).

`TradingStateKeeper` owns the one way an operator changes the trading state of a gate:
- `restore()` when the gate starts: the request persisted by `ordergate halt` / `kill` (or a
  previous process's `OrderGate.halt` / `kill`) is applied before anything can trade; a request
  that cannot be read leaves the gate HALTED (fail closed), audited as `trading.control_error`;
- `sync()` while trading (`serve`, `run`): a request that changed since the last one applied is
  applied; an unchanged one is not re-applied, so the breakers' own moves are not overridden;
- `halt` / `reduce` / `resume` / `engage_kill_switch`: the operator's requests through the facade.
  Each is persisted (so other processes and restarts see it) and audited as `trading.request`.
  A halt or a kill takes effect in this process before it is written, so a failing store never
  delays stopping; a resume or reduce is written first, so a failing store leaves trading as
  restricted as it was.

Every state change is audited (`risk.trading_state`) before it is published; the kill switch's
engagement and release are audited as `trading.kill_switch`. Publishing is best-effort: a
publisher failure never undoes or blocks a state change. This module never sends an order.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ordergate.application.audit_records import system_record
from ordergate.application.desk import TradingDesk
from ordergate.application.logs import log_state_change
from ordergate.domain.audit import AuditRecord
from ordergate.domain.events import TradingStateChanged
from ordergate.domain.risk.breakers import KillSwitchEngaged
from ordergate.domain.risk.control import TradingRequest
from ordergate.domain.risk.decision import TradingState
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.clock import Clock
from ordergate.ports.event_publisher import EventPublisher
from ordergate.ports.trading_control import TradingControl

__all__ = ["TradingStateKeeper"]


class TradingStateKeeper:
    """Applies and persists operator trading-state requests (see the module docstring)."""

    def __init__(
        self,
        *,
        desk: TradingDesk,
        control: TradingControl | None,
        audit: AuditLog,
        clock: Clock,
        publisher: EventPublisher,
    ) -> None:
        self._desk = desk
        self.control = control
        self._audit = audit
        self._clock = clock
        self._publisher = publisher
        self._applied: TradingRequest | None = None

    @property
    def kill_switch(self) -> bool:
        """True while the kill switch is engaged in this process."""
        return self._desk.trading.kill_switch

    # -- the persisted request -----------------------------------------------------------------
    async def restore(self) -> TradingRequest | None:
        """Apply the persisted request (start of a gate); unreadable → HALTED, audited."""
        if self.control is None:
            return None
        try:
            request = await self.control.read()
        except Exception as exc:  # any store failure: trade nothing new until an operator acts
            error = f"{type(exc).__name__}: {exc}"
            await self._record("trading.control_error", {"error": error, "at": "start"})
            await self._change(
                self._desk.trading.halt(
                    self._clock.now(), f"the trading control could not be read ({error})"
                )
            )
            return None
        if request is not None:
            await self.apply(request, source=f"persisted request ({self.control})")
        return request

    async def sync(self, control: TradingControl | None = None) -> bool:
        """Apply the request in `control` (default: the gate's own) if it changed since the
        last one applied; True when the trading state changed. Read errors propagate (the
        caller keeps the current state and says why)."""
        channel = control or self.control
        if channel is None:
            return False
        request = await channel.read()
        if request is None or request == self._applied:
            return False
        before = (self._desk.trading.state, self._desk.trading.kill_switch)
        await self.apply(request, source=f"trading control ({channel})")
        return before != (self._desk.trading.state, self._desk.trading.kill_switch)

    async def apply(self, request: TradingRequest, *, source: str) -> None:
        """Make this process's trading state what `request` asks for (nothing is written)."""
        trading = self._desk.trading
        now = self._clock.now()
        why = f"{source}: {request.reason}" if request.reason else source
        if request.kill_switch:
            if not trading.kill_switch:
                await self._engage(why)
        else:
            if trading.kill_switch:
                await self._release(why)
            move = {
                TradingState.ACTIVE: trading.resume,
                TradingState.REDUCING: trading.reduce,
                TradingState.HALTED: trading.halt,
            }[request.state]
            await self._change(move(now, why))
        self._applied = request

    # -- operator requests through the facade ------------------------------------------------
    async def halt(self, reason: str) -> None:
        """HALTED here at once, then persisted."""
        await self._change(self._desk.trading.halt(self._clock.now(), reason))
        await self._persist(TradingState.HALTED, reason)

    async def reduce(self, reason: str) -> None:
        """Persisted, then REDUCING here (refused with `KillSwitchEngaged` while killed)."""
        if self._desk.trading.kill_switch:
            raise KillSwitchEngaged(TradingState.REDUCING)
        await self._persist(TradingState.REDUCING, reason)
        await self._change(self._desk.trading.reduce(self._clock.now(), reason))

    async def resume(self, reason: str) -> None:
        """Persisted, then ACTIVE here: an explicit resume also releases the kill switch."""
        await self._persist(TradingState.ACTIVE, reason)
        if self._desk.trading.kill_switch:
            await self._release(reason)
        await self._change(self._desk.trading.resume(self._clock.now(), reason))

    async def engage_kill_switch(self, reason: str) -> Exception | None:
        """Kill switch on here at once, then persisted. Returns the store's error, if any: a
        kill is never stopped by a failing store (the caller reports it)."""
        if not self._desk.trading.kill_switch:
            await self._engage(reason)
        try:
            await self._persist(TradingState.HALTED, reason, kill=True)
        except Exception as exc:  # the kill goes on; the caller says it did not persist
            await self._record(
                "trading.control_error", {"error": f"{type(exc).__name__}: {exc}", "at": "kill"}
            )
            return exc
        return None

    # -- internals ---------------------------------------------------------------------------
    async def _persist(self, state: TradingState, reason: str, *, kill: bool = False) -> None:
        if self.control is None:
            return
        request = await self.control.request(state, reason, now=self._clock.now(), kill=kill)
        self._applied = request
        await self._record(
            "trading.request",
            {
                "state": request.state.value,
                "kill_switch": request.kill_switch,
                "reason": request.reason,
                "where": str(self.control),
            },
        )

    async def _engage(self, reason: str) -> None:
        event = self._desk.trading.engage_kill_switch(self._clock.now(), reason)
        await self._record("trading.kill_switch", {"engaged": True, "reason": reason})
        await self._change(event)

    async def _release(self, reason: str) -> None:
        self._desk.trading.release_kill_switch()
        await self._record("trading.kill_switch", {"engaged": False, "reason": reason})

    async def _change(self, event: TradingStateChanged | None) -> None:
        if event is None:
            return
        await self._audit.append(system_record(event, self._clock.now()))
        log_state_change(event)
        # Best-effort: the audit record above is the truth; a publisher outage changes nothing.
        with contextlib.suppress(Exception):
            await self._publisher.publish(event)

    async def _record(self, kind: str, payload: dict[str, Any]) -> None:
        await self._audit.append(AuditRecord(kind, self._clock.now(), payload))
