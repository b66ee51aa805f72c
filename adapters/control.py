"""Trading-state control channels: how `ordergate halt` / `resume` reach a running `serve`.

Both hold one small JSON document, `{"state": "HALTED", "reason": ..., "requested_at": ...,
"version": 1}`, written by the operator's command (`request`) and polled by the service
(`requested_state`, the `TradingControl` protocol of `ordergate.application.service`):

- `FileTradingControl(path)`: a file (by default next to the SQLite audit file); every write is
  atomic (a temporary file in the same folder, fsync, then rename), so a reader sees the old
  document or the new one, never half of one.
- `RedisTradingControl(client, key=...)`: one Redis string key, for services on other machines.

A missing document means "nothing requested" (None). A document that cannot be read is a
`TradingControlError` naming the path or key and the bad value: the service then keeps its
current state. Neither class ever changes trading state itself, and neither logs a URL.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from ordergate.domain.errors import OrdergateError
from ordergate.domain.risk.decision import TradingState

__all__ = [
    "DEFAULT_CONTROL_FILE",
    "FileTradingControl",
    "RedisTradingControl",
    "TradingControlError",
    "TradingRequest",
    "default_control_path",
]

DEFAULT_CONTROL_FILE = "ordergate-control.json"
_VERSION = 1


class TradingControlError(OrdergateError):
    """The control document is unreadable or holds a value that is not a trading state."""


@attrs.frozen
class TradingRequest:
    """One operator request: the state wanted, why, and when it was asked for."""

    state: TradingState
    reason: str = ""
    requested_at: datetime | None = None

    def to_json(self) -> str:
        """The document as stored."""
        return json.dumps(
            {
                "version": _VERSION,
                "state": self.state.value,
                "reason": self.reason,
                "requested_at": None
                if self.requested_at is None
                else self.requested_at.isoformat(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes, where: str) -> TradingRequest:
        """Parse a stored document; `TradingControlError` names `where` and the bad value."""
        try:
            document = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TradingControlError(f"{where}: not a JSON document ({exc})") from None
        if not isinstance(document, Mapping):
            raise TradingControlError(f"{where}: expected a JSON object; got {document!r:.80}")
        return cls(
            _state(document.get("state"), where),
            str(document.get("reason") or ""),
            _time(document.get("requested_at"), where),
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
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


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
        return TradingRequest.from_json(text, str(self.path))

    async def request(self, state: TradingState, reason: str = "") -> TradingRequest:
        """Atomically replace the document with a request for `state`; returns it."""
        request = TradingRequest(state, reason, datetime.now(UTC))
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(request.to_json())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _sync_folder(folder)
        return request

    async def close(self) -> None:
        """Nothing to release (kept for symmetry with the Redis channel)."""


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
        return None if value is None else TradingRequest.from_json(value, f"redis key {self.key}")

    async def request(self, state: TradingState, reason: str = "") -> TradingRequest:
        """Replace the document with a request for `state` (one SET: atomic); returns it."""
        import redis  # noqa: PLC0415  (the optional extra)

        request = TradingRequest(state, reason, datetime.now(UTC))
        try:
            await self._client.set(self.key, request.to_json())
        except redis.RedisError as exc:
            raise TradingControlError(f"redis key {self.key}: cannot be written ({exc})") from None
        return request

    async def close(self) -> None:
        """Release the client if this control created it."""
        if self._owns_client:
            await self._client.aclose()
