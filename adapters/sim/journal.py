"""The simulated broker's state across restarts: a command journal, replayed deterministically.

The simulated broker lives inside `ordergate serve`. For "a restart adopts the working orders
and positions" to be true on the sim as it is on IB, the simulated account must outlive the
process, even a SIGKILL. The simulator is deterministic: the same seed, the same bars and the
same commands at the same simulated times give the same book, the same fills (with the same
execution ids) and the same cash. So the account is kept as the sequence of what changed it:

- `step` — the market moved by one step of the serve market (a replayed day, a synthetic bar);
- `submit`, `submit_list`, `modify`, `cancel`, `cancel_all` — an order command the broker took
  (the approved request as the gate redeemed it: the journal is written only after the engine
  accepted the command, so a refused approval is never replayed).

Each entry is one SQLite transaction (WAL, `synchronous=FULL`) committed before the call
returns: what a SIGKILL can lose is a command whose call had not returned, which the gate did
not see succeed either. `SimJournal.replay(session, step)` rebuilds the session by applying the
entries to its engine in order, before anything subscribes to the broker's events (the gate
then adopts the result like any broker's). The file sits beside the audit log
(`<audit>.sim.db`); it is the simulated broker's own state, not the audit log.

Entries are pickled tuples of domain values written by this process only; the file is as
trusted as the audit log beside it. A journal made for other session settings (symbols, seed,
bars, market) is refused by `SimJournal.open` with the settings it was made for.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ordergate.adapters.sim.session import SimSession
from ordergate.domain.errors import InvalidValue

__all__ = ["SimJournal", "journal_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    body BLOB NOT NULL
);
"""


def journal_path(audit_path: str | Path | None) -> Path:
    """Where the simulated account of an audit log is kept: `<audit>.sim.db` beside it."""
    if audit_path is None:
        return Path("ordergate-audit.sim.db")
    path = Path(audit_path)
    return path.with_name(path.stem + ".sim.db")


class SimJournal:
    """An append-only, durable journal of what changed a simulated account."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.replaying = False

    @classmethod
    def open(cls, path: str | Path, identity: dict[str, Any]) -> SimJournal:
        """Open (creating) the journal at `path` for a session described by `identity`."""
        path = Path(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        wanted = json.dumps(identity, sort_keys=True, default=str)
        row = conn.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('identity', ?)", (wanted,))
        elif row[0] != wanted:
            conn.close()
            raise InvalidValue(
                "sim state",
                str(path),
                f"was made for the session {row[0]}, not {wanted}; move it away to start "
                "a new simulated account (or `ordergate reset-paper`)",
            )
        return cls(conn, path)

    def append(self, kind: str, *args: Any) -> None:
        """Record one change (durable when this returns); nothing while replaying."""
        if self.replaying:
            return
        body = pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL)
        self._conn.execute("INSERT INTO journal (kind, body) VALUES (?, ?)", (kind, body))

    def entries(self) -> Iterator[tuple[str, tuple[Any, ...]]]:
        for kind, body in self._conn.execute("SELECT kind, body FROM journal ORDER BY seq"):
            yield kind, pickle.loads(body)

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0])

    def replay(self, session: SimSession, step: Callable[[], object]) -> int:
        """Apply every entry to `session`'s engine in order (`step` moves the market one step);
        returns the number of entries applied. Events go to no one: nothing subscribes yet."""
        engine = session.engine
        count = 0
        self.replaying = True
        try:
            for kind, args in self.entries():
                if kind == "step":
                    step()
                elif kind == "submit":
                    engine.submit(args[0])
                elif kind == "submit_list":
                    engine.submit_list(list(args[0]))
                elif kind == "modify":
                    cid, changes = args
                    engine.modify(cid, **changes)
                elif kind == "cancel":
                    engine.cancel(args[0])
                elif kind == "cancel_all":
                    engine.cancel_all()
                else:
                    raise InvalidValue("sim journal entry", kind, "is not a known command")
                count += 1
        finally:
            self.replaying = False
        session.clock.move_quietly(engine.now)
        return count

    def clear(self) -> None:
        """Forget every entry (a new simulated account)."""
        self._conn.execute("DELETE FROM journal")

    def close(self) -> None:
        self._conn.close()
