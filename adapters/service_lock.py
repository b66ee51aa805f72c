"""One `ordergate serve` per account and audit log: an exclusive lock, naming its holder.

`ServiceLock.acquire(path)` takes an exclusive, non-blocking `flock` on a lock file beside the
audit log (`<audit>.serve.lock`; for a PostgreSQL audit, `ordergate-<schema>-<table>.serve.lock`
in the working folder) and writes the holder into it: pid, host, start time (UTC), account,
audit. A second serve on the same files fails at once with `ServiceLocked`, whose message names
the holder. The kernel releases the lock when the holder exits in any way, SIGKILL included, so
a stale file never blocks a restart (its stale content is simply overwritten).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ordergate.domain.errors import OrdergateError

__all__ = ["ServiceLock", "ServiceLocked", "service_lock_path"]


class ServiceLocked(OrdergateError):
    """Another `ordergate serve` holds the lock; `holder` is what it wrote."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        who = ", ".join(f"{k} {holder[k]}" for k in ("pid", "host", "started") if k in holder)
        super().__init__(
            "another ordergate serve already runs on this account and audit log "
            f"({who or 'holder unknown'}; lock {path}); stop it first"
        )


def service_lock_path(audit_path: str | Path | None, *, name: str = "ordergate") -> Path:
    """The lock file of a serve on the audit log at `audit_path` (None: not a file)."""
    if audit_path is None:
        return Path(f"{name}.serve.lock")
    path = Path(audit_path)
    return path.with_name(path.stem + ".serve.lock")


class ServiceLock:
    """An acquired lock; `release()` (or leaving the `with`) gives it back."""

    def __init__(self, path: Path, handle: IO[str], holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, path: str | Path, **details: str) -> ServiceLock:
        """Take the lock at `path` or raise `ServiceLocked` naming the holder."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            handle.close()
            raise ServiceLocked(path, holder if isinstance(holder, dict) else {}) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            **details,
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        os.fsync(handle.fileno())
        return cls(path, handle, holder)

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> ServiceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
