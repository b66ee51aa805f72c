"""Scriptable faults of the gateway emulator: armed one-shot faults the server consumes as it
works, the IB messages for connectivity events, and a tiny line-based fault script.

`FaultPlan` is pure state (what is armed, how often); the server asks it at the right moments
("is the next order to be rejected?", "should this execution go out twice?"). A `FaultScript` is
a list of timed steps run against a server's public fault methods, parsed from text such as::

    wait 0.5
    connectivity-lost
    wait 1
    connectivity-restored data_lost=false
    reject-next-order reason="margin check failed"
    drop-connection client_id=1

This module never touches sockets itself and must never import `ib_async`.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import attrs

__all__ = [
    "CONNECTIVITY_MESSAGES",
    "FAULT_NAMES",
    "FaultPlan",
    "FaultScript",
    "FaultScriptError",
    "FaultStep",
    "FaultTarget",
]

CONNECTIVITY_MESSAGES: Mapping[int, str] = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.*",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained. "
    "All data farms are connected: usfarm; ushmds; secdefnj.",
    2104: "Market data farm connection is OK:usfarm",
    2106: "HMDS data farm connection is OK:ushmds",
    2110: "Connectivity between Trader Workstation and server is broken. "
    "It will be restored automatically.",
    2158: "Sec-def data farm connection is OK:secdefnj",
}
"""IB's texts for the connectivity codes the emulator sends (reqId -1)."""

FAULT_NAMES = frozenset({
    "reject_next_order",
    "duplicate_next_execution",
    "commission_before_execution",
    "delay_responses",
    "pace_next_historical_request",
    "pacing_violation_on_next_request",
    "roll_back_next_valid_id",
    "occupy_client_id",
    "release_client_id",
    "connectivity_lost",
    "connectivity_restored",
    "farm_ok",
    "server_broken",
    "drop_connection",
    "restart",
})
"""The fault methods of `GatewayServer` a script may call (script spelling may use `-`)."""


@attrs.define
class FaultPlan:
    """Armed faults. Counters count how many upcoming events the fault applies to."""

    order_rejections: list[str] = attrs.Factory(list)
    duplicate_executions: int = 0
    commission_first: int = 0
    historical_pacing: int = 0
    rate_violations: int = 0
    delay_seconds: float = 0.0
    next_valid_id_rollback: int | None = None
    occupied_client_ids: set[int] = attrs.Factory(set)

    def take_order_rejection(self) -> str | None:
        """The reason for rejecting the next order, if one is armed (consumes it)."""
        return self.order_rejections.pop(0) if self.order_rejections else None

    def take(self, counter: str) -> bool:
        """Consume one use of a counted fault (`duplicate_executions`, ...); False if none."""
        left: int = getattr(self, counter)
        if left <= 0:
            return False
        setattr(self, counter, left - 1)
        return True

    def take_rollback(self) -> int | None:
        """The rolled-back nextValidId to announce once, if armed."""
        value, self.next_valid_id_rollback = self.next_valid_id_rollback, None
        return value


class FaultScriptError(ValueError):
    """A fault script line could not be understood."""


@attrs.frozen
class FaultStep:
    """One step: `wait` seconds, or call fault `name` with keyword arguments."""

    name: str
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


class FaultTarget(Protocol):
    """What a script drives: a server exposing its fault methods by name."""

    def fault_action(self, name: str) -> Callable[..., Awaitable[None] | None]:
        """The callable for fault `name`; raises `FaultScriptError` if there is none."""
        ...


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


@attrs.frozen
class FaultScript:
    """Timed fault steps, run in order against a server."""

    steps: tuple[FaultStep, ...]

    @classmethod
    def parse(cls, text: str) -> FaultScript:
        """One step per line (`;` also separates): `name key=value ...`; `#` starts a comment."""
        steps = []
        for number, raw in enumerate(text.replace(";", "\n").splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                words = shlex.split(line)
            except ValueError as exc:
                raise FaultScriptError(f"line {number}: {exc}: {raw!r}") from None
            name, args = words[0].replace("-", "_"), words[1:]
            kwargs: dict[str, Any] = {}
            for arg in args:
                if "=" not in arg:
                    if name == "wait" and not kwargs:
                        kwargs["seconds"] = _value(arg)
                        continue
                    raise FaultScriptError(f"line {number}: {arg!r} is not key=value")
                key, value = arg.split("=", 1)
                kwargs[key.replace("-", "_")] = _value(value)
            steps.append(FaultStep(name, kwargs))
        return cls(tuple(steps))

    def validate(self, target: FaultTarget) -> None:
        """Raise `FaultScriptError` if a step names a fault the target lacks."""
        for step in self.steps:
            if step.name != "wait":
                target.fault_action(step.name)

    async def run(self, target: FaultTarget) -> None:
        """Run every step in order (`wait` sleeps; other steps call the target's fault)."""
        self.validate(target)
        for step in self.steps:
            if step.name == "wait":
                await asyncio.sleep(float(step.kwargs.get("seconds", 0)))
                continue
            outcome = target.fault_action(step.name)(**step.kwargs)
            if outcome is not None:
                await outcome
