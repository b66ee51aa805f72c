"""Trading-state control channels: the `TradingControl` port on a file or a Redis key.

Both hold one small JSON document, `{"state": "HALTED", "kill_switch": false, "reason": ...,
"requested_at": ..., "version": 1}`, written by an operator (`ordergate halt` / `resume` /
`kill`, or the facade's `halt` / `reduce` / `resume` / `kill`) through `request` and read by
every entry point that trades (`read`): the gate applies it when it starts, `serve` and `run`
poll it while they trade.

- `FileTradingControl(path)`: a file (by default next to the SQLite audit file); every write is
  atomic (a temporary file in the same folder, fsync, then rename) and made under an exclusive
  lock on the folder, so a reader sees the old document or the new one, never half of one, and
  two operators' read-modify-writes do not lose an engaged kill switch.
- `RedisTradingControl(client, key=...)`: one Redis string key, for services on other machines;
  the read-modify-write is one optimistic transaction (WATCH/MULTI).

A missing document means "nothing requested" (None). A document that cannot be read is a
`TradingControlError` naming the path or key and the bad value. Neither class ever changes
trading state itself, and neither logs a URL.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ordergate.domain.risk.control import TradingRequest
from ordergate.domain.risk.decision import TradingState
from ordergate.ports.trading_control import TradingControlError

__all__ = [
    "DEFAULT_CONTROL_FILE",
    "FileTradingControl",
    "RedisTradingControl",
    "TradingControlError",
    "TradingRequest",
    "decode_request",
    "default_control_path",
    "encode_request",
]

DEFAULT_CONTROL_FILE = "ordergate-control.json"
_VERSION = 1


def encode_request(request: TradingRequest) -> str:
    """The document as stored."""
    return json.dumps(
        {
            "version": _VERSION,
            "state": request.state.value,
            "kill_switch": request.kill_switch,
            "reason": request.reason,
            "requested_at": None
            if request.requested_at is None
            else request.requested_at.isoformat(),
        },
        sort_keys=True,
    )


def decode_request(text: str | bytes, where: str) -> TradingRequest:
    """Parse a stored document; `TradingControlError` names `where` and the bad value."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TradingControlError(f"{where}: not a JSON document ({exc})") from None
    if not isinstance(document, Mapping):
        raise TradingControlError(f"{where}: expected a JSON object; got {document!r:.80}")
    state = _state(document.get("state"), where)
    kill = document.get("kill_switch", False)
    if not isinstance(kill, bool):
        raise TradingControlError(f"{where}: kill_switch {kill!r:.40} is not true or false")
    if kill and state is not TradingState.HALTED:
        raise TradingControlError(
            f"{where}: kill_switch is true but state is {state.value} (a kill is HALTED)"
        )
    return TradingRequest(
        state, str(document.get("reason") or ""), _time(document.get("requested_at"), where), kill
    )


def _state(value: Any, where: str) -> TradingState:
    try:
        return TradingState(str(value).upper())
    except ValueError:
        allowed = ", ".join(s.value for s in TradingState)
        raise TradingControlError(f"{where}: state {value!r:.40} is not one of {allowed}") from None


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError:
        raise TradingControlError(
            f"{where}: requested_at {value!r:.40} is not an ISO time"
        ) from None
    return (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).astimezone(UTC)


def default_control_path(audit_path: str | None) -> Path:
    """Where the control file lives: beside the SQLite audit file (`audit.db` →
    `audit.control.json`), else `ordergate-control.json` in the working folder."""
    if not audit_path:
        return Path(DEFAULT_CONTROL_FILE)
    audit = Path(audit_path)
    return audit.with_name(f"{audit.stem}.control.json")


class FileTradingControl:
    """The control document in a file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return f"file {self.path}"

    async def requested_state(self) -> TradingState | None:
        """The state last requested, or None when the file does not exist."""
        request = await self.read()
        return None if request is None else request.state

    async def read(self) -> TradingRequest | None:
        """The whole request last written, or None when the file does not exist."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TradingControlError(f"{self.path}: cannot be read ({exc})") from None
        return decode_request(text, str(self.path))

    async def request(
        self,
        state: TradingState,
        reason: str = "",
        *,
        now: datetime | None = None,
        kill: bool = False,
    ) -> TradingRequest:
        """Atomically replace the document with the request that follows the stored one (the
        kill switch is sticky, see `TradingRequest.after`); returns it."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = os.open(folder, os.O_RDONLY)
        except OSError as exc:
            raise TradingControlError(f"{self.path}: cannot be written ({exc})") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            request = TradingRequest.after(
                await _previous(self.read()), state, reason, now or datetime.now(UTC), kill=kill
            )
            try:
                self._replace(request)
            except OSError as exc:
                raise TradingControlError(f"{self.path}: cannot be written ({exc})") from None
        finally:
            os.close(lock)  # releases the lock
        return request

    def _replace(self, request: TradingRequest) -> None:
        folder = self.path.parent
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(encode_request(request))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _sync_folder(folder)

    async def close(self) -> None:
        """Nothing to release (kept for symmetry with the Redis channel)."""


async def _previous(read: Awaitable[TradingRequest | None]) -> TradingRequest | None:
    """The stored request a new one follows; an unreadable one is replaced (every gate that
    read it is HALTED already, and the operator's new request is what counts now)."""
    try:
        return await read
    except TradingControlError:
        return None


def _decoded(stored: str | bytes, where: str) -> TradingRequest | None:
    try:
        return decode_request(stored, where)
    except TradingControlError:
        return None


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); harmless where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class RedisTradingControl:
    """The control document in one Redis string key (see the module docstring).

    `client` is a `redis.asyncio.Redis`; `from_url` builds one (password from
    `ORDERGATE_REDIS_PASSWORD`) that `close` releases.
    """

    def __init__(self, client: Any, *, key: str, owns_client: bool = False) -> None:
        self._client = client
        self.key = key
        self._owns_client = owns_client

    @classmethod
    def from_url(
        cls, url: str, *, key: str, environ: Mapping[str, str] | None = None
    ) -> RedisTradingControl:
        """A control on the Redis at `url` (no password in the URL) with its own client."""
        # Imported here: Redis support is the optional `redis` extra.
        from ordergate.adapters.redis.config import RedisConfig, connect  # noqa: PLC0415

        return cls(connect(RedisConfig(url=url), environ), key=key, owns_client=True)

    def __str__(self) -> str:
        return f"redis key {self.key}"

    async def requested_state(self) -> TradingState | None:
        """The state last requested, or None when the key does not exist."""
        request = await self.read()
        return None if request is None else request.state

    async def read(self) -> TradingRequest | None:
        """The whole request last written, or None when the key does not exist."""
        import redis  # noqa: PLC0415  (the optional extra)

        try:
            value = await self._client.get(self.key)
        except redis.RedisError as exc:
            raise TradingControlError(f"redis key {self.key}: cannot be read ({exc})") from None
        return None if value is None else decode_request(value, f"redis key {self.key}")

    async def request(
        self,
        state: TradingState,
        reason: str = "",
        *,
        now: datetime | None = None,
        kill: bool = False,
    ) -> TradingRequest:
        """Replace the document with the request that follows the stored one, in one optimistic
        transaction (retried when another writer got in between); returns it."""
        import redis  # noqa: PLC0415  (the optional extra)

        where = f"redis key {self.key}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(self.key)
                        stored = await pipe.get(self.key)
                        previous = None if stored is None else _decoded(stored, where)
                        request = TradingRequest.after(
                            previous, state, reason, now or datetime.now(UTC), kill=kill
                        )
                        pipe.multi()
                        pipe.set(self.key, encode_request(request))
                        await pipe.execute()
                        return request
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
            raise TradingControlError(f"{where}: cannot be written ({exc})") from None

    async def close(self) -> None:
        """Release the client if this control created it."""
        if self._owns_client:
            await self._client.aclose()
