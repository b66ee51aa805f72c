"""A replayed session through IB: the emulator's market moves one trading day per cycle.

`GatewayReplayPacer` is the `SessionPacer` of `ordergate run --broker ibkr` against `ordergate
gateway-sim --replay`: each cycle asks the emulator (over its control channel) to replay the next
trading day, moves the session's clock to the emulator's simulated time, then waits for a round
trip on the TWS connection so every fill of that day has been received before the strategies look
at the market. With the same data and seed the session therefore makes the same decisions as one
on the in-process simulated broker.
"""

from __future__ import annotations

from datetime import date

from ordergate.adapters.gateway_sim.control import ReplayControlClient, ReplayStatus
from ordergate.adapters.ibkr.broker import IbkrBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.domain.errors import BrokerError

__all__ = ["GatewayReplayPacer"]


class GatewayReplayPacer:
    """One cycle = one trading day replayed by the emulator (see the module docstring).

    Build it with `await GatewayReplayPacer.open(control, broker)`; `clock` is the session clock
    to give the gate (it follows the emulator's simulated time).
    """

    def __init__(
        self, control: ReplayControlClient, broker: IbkrBroker, status: ReplayStatus
    ) -> None:
        if not status.replay:
            raise BrokerError(
                "the gateway emulator is not replaying a market; start it with "
                "`ordergate gateway-sim --replay` (same config as this run)"
            )
        self._control = control
        self._broker = broker
        self._status = status
        self.clock = SimClock(status.now)
        self.total_cycles: int | None = (
            None if status.total_days is None else status.total_days - status.days_done
        )

    @classmethod
    async def open(cls, control: ReplayControlClient, broker: IbkrBroker) -> GatewayReplayPacer:
        """A pacer for the emulator behind `control`, starting where its replay stands."""
        return cls(control, broker, await control.status())

    @property
    def status(self) -> ReplayStatus:
        """The emulator's replay status as of the last cycle."""
        return self._status

    def upcoming_day(self) -> date | None:
        """The trading date the next cycle replays (None once the replay is over)."""
        return self._status.upcoming_day

    async def next_cycle(self) -> bool:
        """Replay the next day at the emulator; False once every day has been replayed."""
        if self._status.upcoming_day is None:
            return False
        status = await self._control.advance()
        self._status = status
        if status.now > self.clock.now():
            self.clock.advance_to(status.now)
        await self.barrier()
        return status.advanced

    async def barrier(self) -> None:
        """Return once everything the emulator sent before now has reached the broker's event
        stream (one round trip on the TWS connection)."""
        await self._broker.sync(timeout=self._control.timeout)
