"""Can these settings start? What the selected adapters need from this machine, checked up front.

`load_settings` checks every value against its domain, but not the machine: whether the audit
file can be written, whether the variable `audit.hmac_key_env` names is set, whether the optional
extra behind a selected adapter is installed, whether the simulator has bars for every session
symbol. `check_can_start` checks those for the adapters
the settings select (and only those: a profile for another machine is not judged here), and
raises one `ConfigError` naming each key and value at fault — so `ordergate check-config` calls a
configuration valid only when `ordergate run` / `serve` can start with it, and they refuse with
the same message (exit 2) instead of a traceback halfway through building the gate.

It opens no connection and writes nothing; it imports the adapter modules of the selected extras.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ordergate.adapters.serialization import AuditKeyError, hmac_key_from_env
from ordergate.adapters.sim.bars import (
    BUNDLED_SYMBOLS,
    BarsFileError,
    load_daily_bars_csv,
)
from ordergate.application.config import ConfigError, ConfigProblem, Settings
from ordergate.application.strategies import load_strategy
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Stock

__all__ = ["check_can_start", "check_session_data", "problems_starting"]

_SQLITE_HEADER = b"SQLite format 3\x00"
# Adapter module of each optional extra, and the distribution's name for it.
_EXTRAS = {
    "postgres": "ordergate.adapters.postgres.audit_log",
    "redis": "ordergate.adapters.redis.publisher",
}


def check_can_start(settings: Settings) -> None:
    """Raise `ConfigError` listing every problem of `problems_starting(settings)`."""
    problems = problems_starting(settings)
    if problems:
        raise ConfigError(problems)


def check_session_data(settings: Settings) -> None:
    """Raise `ConfigError` unless the simulator has bars for every session symbol (what
    `ordergate gateway-sim --replay` replays, whatever broker the settings select)."""
    problems = _session_data(settings)
    if problems:
        raise ConfigError(problems)


def problems_starting(settings: Settings) -> list[ConfigProblem]:
    """What keeps the adapters `settings` selects from starting on this machine."""
    problems: list[ConfigProblem] = []
    audit = settings.audit
    if audit.kind.value == "sqlite":
        problems.extend(_writable_file("audit.path", audit.path))
    if audit.kind.value != "memory":
        problems.extend(_hmac_key(audit.hmac_key_env))
    for key, kind in (
        ("audit.kind", audit.kind.value),
        ("publisher.kind", settings.publisher.kind.value),
        ("signals.kind", settings.signals.kind.value),
    ):
        if kind in _EXTRAS:
            problems.extend(_extra(key, kind))
    if settings.broker.kind.value == "sim":
        problems.extend(_session_data(settings))
    problems.extend(_strategy(settings))
    return problems


def _strategy(settings: Settings) -> list[ConfigProblem]:
    """`session.strategy` imports and builds a `Strategy` (on the session's stocks)."""
    reference = settings.session.strategy
    if reference is None:
        return []
    try:
        load_strategy(reference, [Stock(symbol) for symbol in settings.session.symbols])
    except InvalidValue as exc:
        return [ConfigProblem("session.strategy", str(exc))]
    return []


def _hmac_key(variable: str | None) -> list[ConfigProblem]:
    """A named HMAC key variable must be set here: a keyed log is never written unkeyed."""
    try:
        hmac_key_from_env(variable, os.environ)
    except AuditKeyError as exc:  # the message names the variable, never a value
        return [ConfigProblem("audit.hmac_key_env", str(exc))]
    return []


def _extra(key: str, kind: str) -> list[ConfigProblem]:
    try:
        importlib.import_module(_EXTRAS[kind])
    except ImportError as exc:
        return [
            ConfigProblem(
                key,
                f"{key}: {kind!r} needs the {kind} extra, which is not installed here ({exc}); "
                f"install it with: pip install 'ordergate[{kind}]'",
            )
        ]
    return []


def _writable_file(key: str, text: str) -> list[ConfigProblem]:
    """`text` names a regular file that can be written, or one that can be created."""
    path = Path(text)

    def problem(what: str) -> list[ConfigProblem]:
        return [ConfigProblem(key, f"{key}: {what}; got {text!r}")]

    try:
        if path.is_dir():
            return problem(f"is a folder; name a file in it (e.g. {path / 'ordergate-audit.db'})")
        if path.exists():
            if not path.is_file():
                return problem("is not a regular file")
            if not os.access(path, os.R_OK | os.W_OK):
                return problem("cannot be written (permissions)")
            with path.open("rb") as handle:
                head = handle.read(len(_SQLITE_HEADER))
            if head and head != _SQLITE_HEADER:
                return problem("exists and is not an SQLite database; name another file")
            return []
        folder = path.parent
        if not folder.exists():
            return problem(f"its folder {str(folder)!r} does not exist")
        if not folder.is_dir():
            return problem(f"{str(folder)!r} is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            return problem(f"its folder {str(folder)!r} cannot be written (permissions)")
    except OSError as exc:
        return problem(f"cannot be used ({exc.strerror or exc})")
    return []


def _session_data(settings: Settings) -> list[ConfigProblem]:
    """The simulator replays `session.symbols` from `session.bars_file`, else the bundled bars."""
    session = settings.session
    if session.bars_file is None:
        unknown = [s for s in session.symbols if s not in BUNDLED_SYMBOLS]
        if not unknown:
            return []
        return [
            ConfigProblem(
                "session.symbols",
                f"session.symbols: the bundled bars cover only {', '.join(BUNDLED_SYMBOLS)}; "
                f"set session.bars_file to a CSV with bars for {', '.join(unknown)}; "
                f"got {list(session.symbols)!r}",
            )
        ]
    key, path = "session.bars_file", Path(session.bars_file)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        return [ConfigProblem(key, f"{key}: {what}; got {session.bars_file!r}")]
    problems = []
    for symbol in session.symbols:
        try:
            bars = load_daily_bars_csv(path, symbol)
        except BarsFileError as exc:
            return [ConfigProblem(key, f"{key}: {exc}")]
        except OSError as exc:
            return [
                ConfigProblem(
                    key, f"{key}: cannot be read ({exc.strerror or exc}); got {session.bars_file!r}"
                )
            ]
        if not bars:
            problems.append(
                ConfigProblem(
                    "session.symbols",
                    f"session.symbols: {symbol!r} has no bars in {session.bars_file}",
                )
            )
    return problems
