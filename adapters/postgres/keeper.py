"""`AccountLeaseKeeper`: hold, renew and take over account leases for one worker.

A worker names the accounts it prefers and the accounts it stands by for. Each `step`:
1. renews every lease it holds; a renewal refused (`LeaseLost`: expired or taken over) drops the
   account at once and awaits `on_lost` (the worker stops deciding for it; the fence at the audit
   write already refuses its appends);
2. acquires each preferred account that is free (no row, expired, or its own from an earlier
   process — the token rises either way);
3. takes over each standby account whose holder let its lease expire (`take_over`: never an
   account nobody held yet, so a standby does not grab accounts before their workers start).
Every account gained awaits `on_acquired` with its lease (the worker reclaims the account's
pending deliveries and resyncs its broker there). `run` repeats `step` every third of the TTL.

A failure to reach PostgreSQL keeps the leases as they are and is retried at the next step: the
fence, not this loop, is what stops a worker whose lease ran out in the meantime. This module
must never extend a lease on the local clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from ordergate.adapters.postgres.lease import Lease, LeaseLost, PostgresAccountLeases, check_account
from ordergate.adapters.serialization import AuditStoreError

__all__ = ["AccountLeaseKeeper"]

_log = logging.getLogger(__name__)

Callback = Callable[[Lease], Awaitable[None]]


async def _nothing(lease: Lease) -> None:
    return None


class AccountLeaseKeeper:
    """The leases of one worker (see module docstring)."""

    def __init__(
        self,
        leases: PostgresAccountLeases,
        preferred: Iterable[str],
        standby: Iterable[str] = (),
        *,
        on_acquired: Callback = _nothing,
        on_lost: Callback = _nothing,
    ) -> None:
        self._leases = leases
        self._preferred = tuple(check_account(a) for a in preferred)
        self._standby = tuple(check_account(a) for a in standby if a not in set(self._preferred))
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self.held: dict[str, Lease] = {}

    async def step(self) -> None:
        """Renew, acquire and take over once (see module docstring)."""
        for account, lease in list(self.held.items()):
            try:
                self.held[account] = await self._leases.renew(lease)
            except LeaseLost:
                del self.held[account]
                await self._on_lost(lease)
            except AuditStoreError as exc:
                _log.warning("lease renewal of %s failed (retried): %s", account, exc)
        for accounts, gain in (
            (self._preferred, self._leases.acquire),
            (self._standby, self._leases.take_over),
        ):
            for account in accounts:
                if account in self.held:
                    continue
                try:
                    gained = await gain(account)
                except AuditStoreError as exc:
                    _log.warning("lease of %s not acquired (retried): %s", account, exc)
                    continue
                if gained is not None:
                    self.held[account] = gained
                    await self._on_acquired(gained)

    async def run(self, stop: asyncio.Event) -> None:
        """`step` every third of the lease TTL until `stop` is set, then release every lease."""
        interval = self._leases.ttl.total_seconds() / 3
        try:
            while not stop.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
        finally:
            await self.release_all()

    async def release_all(self) -> None:
        """Let every held lease expire now, so another worker may take it at once."""
        for account, lease in list(self.held.items()):
            del self.held[account]
            try:
                await self._leases.release(lease)
            except AuditStoreError as exc:
                _log.warning("lease of %s not released (it expires by itself): %s", account, exc)
