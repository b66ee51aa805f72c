"""Settings: the validated configuration of ordergate (SPEC §6), and how to load it.

Layers, each overriding the one before: the defaults below; one TOML file; the selected profile
table (`[profiles.paper]`, `[profiles.live]`, chosen by `profile=` or `ORDERGATE_PROFILE`);
`ORDERGATE_*` environment variables (`ORDERGATE_BROKER__KIND=ibkr` sets `broker.kind`); explicit
`overrides` (the command line). One cattrs converter (`forbid_extra_keys=True`) structures the
result into the frozen attrs classes of `_settings`; every problem is reported in one `ConfigError`
whose lines name the dotted key and the value (`broker.kind: 'ibkrr' is not one of sim, ibkr,
fake`). Passwords come only from `ORDERGATE_POSTGRES_PASSWORD` / `ORDERGATE_REDIS_PASSWORD`, never
from the file, and `redact()` masks them in anything printed or logged.

This module reads one file and one mapping; it opens no connection and builds no adapter.
"""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ordergate.application._config_file import (
    MAX_FILE_BYTES,
    TomlProblem,
    check_document,
    parse_toml,
)
from ordergate.application._config_structure import SourcedText, make_converter, problems_from
from ordergate.application._secrets import (
    POSTGRES_PASSWORD_VARIABLE,
    REDIS_PASSWORD_VARIABLE,
    RedactingFilter,
    Secrets,
    find_password_keys,
    password_variable_for,
    redact,
    with_password,
)
from ordergate.application._settings import (
    CLIENT_ID_CLI,
    CLIENT_ID_DIAGNOSTIC,
    CLIENT_ID_TRADING,
    AuditKind,
    AuditSettings,
    BreakersSettings,
    BrokerKind,
    BrokerSettings,
    InstrumentRiskSettings,
    MarketDataKind,
    MarketDataSettings,
    Mode,
    OnStop,
    PublisherKind,
    PublisherSettings,
    RiskSettings,
    ServeMarket,
    ServeSettings,
    ServiceSettings,
    SessionSettings,
    Settings,
    SignalsKind,
    SignalsSettings,
    StrategyCSettings,
    UnitFraction,
)
from ordergate.domain.errors import OrdergateError

__all__ = [
    "CLIENT_ID_CLI",
    "CLIENT_ID_DIAGNOSTIC",
    "CLIENT_ID_TRADING",
    "CONFIG_VARIABLE",
    "ENV_PREFIX",
    "POSTGRES_PASSWORD_VARIABLE",
    "PROFILE_VARIABLE",
    "REDIS_PASSWORD_VARIABLE",
    "AuditKind",
    "AuditSettings",
    "BreakersSettings",
    "BrokerKind",
    "BrokerSettings",
    "ConfigError",
    "ConfigProblem",
    "InstrumentRiskSettings",
    "MarketDataKind",
    "MarketDataSettings",
    "Mode",
    "OnStop",
    "PublisherKind",
    "PublisherSettings",
    "RedactingFilter",
    "RiskSettings",
    "Secrets",
    "ServeMarket",
    "ServeSettings",
    "ServiceSettings",
    "SessionSettings",
    "Settings",
    "SignalsKind",
    "SignalsSettings",
    "StrategyCSettings",
    "UnitFraction",
    "env_overrides",
    "load_settings",
    "redact",
    "settings_from_mapping",
    "settings_rows",
    "with_password",
]

ENV_PREFIX = "ORDERGATE_"
PROFILE_VARIABLE = "ORDERGATE_PROFILE"
CONFIG_VARIABLE = "ORDERGATE_CONFIG"
# Variables with the prefix that are not settings (read by other code, or secrets).
_NOT_SETTINGS = frozenset(
    {
        PROFILE_VARIABLE,
        CONFIG_VARIABLE,
        "ORDERGATE_ARM_LIVE",
        POSTGRES_PASSWORD_VARIABLE,
        REDIS_PASSWORD_VARIABLE,
    }
)
# Top-level keys that a single-underscore variable (ORDERGATE_MODE) may set; every other setting
# lives in a section and is set with a double underscore (ORDERGATE_BROKER__PORT).
_TOP_LEVEL_KEYS = frozenset({"mode", "operator_id", "account_id"})


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a configuration: the dotted `key` and a `message` naming the value."""

    key: str
    message: str


class ConfigError(OrdergateError, ValueError):
    """The configuration cannot be used. `problems` lists every bad key; the message shows all.

    `source` names the file (or "defaults"); nothing in the message is a secret.
    """

    def __init__(self, problems: Sequence[ConfigProblem], source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        super().__init__("\n".join(redact(p.message) for p in self.problems))

    @property
    def keys(self) -> tuple[str, ...]:
        """The dotted keys at fault, in the order reported."""
        return tuple(p.key for p in self.problems)

    @classmethod
    def single(cls, key: str, message: str, source: str = "") -> ConfigError:
        """An error with one problem (`message` should start with `key`)."""
        return cls([ConfigProblem(key, message)], source)


@functools.cache
def _converter() -> cattrs.Converter:
    converter = make_converter(UnitFraction)
    # `secrets` never comes from the file: structuring ignores the field (and so forbids the key).
    converter.register_structure_hook(
        Settings, make_dict_structure_fn(Settings, converter, secrets=override(omit=True))
    )
    return converter


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Read the TOML file at `path` (else `$ORDERGATE_CONFIG`, else none) into `Settings`.

    `environ` defaults to `os.environ` (read now, never cached); pass `{}` to ignore the
    environment. `overrides` maps dotted keys to values (strings are parsed like environment
    text) and wins over everything else. Raises `ConfigError` naming every bad key and value.
    """
    env = os.environ if environ is None else environ
    chosen = path if path is not None else (env.get(CONFIG_VARIABLE) or None)
    if chosen is None:
        return settings_from_mapping(
            {}, profile=profile, environ=env, overrides=overrides, source="defaults"
        )
    file = Path(chosen)
    try:
        with file.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError.single("", f"config file {file} does not exist", str(file)) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError.single(
            "", f"config file {file} cannot be read: {exc}", str(file)
        ) from None
    try:
        document = parse_toml(data, str(file))
    except TomlProblem as problem:
        raise ConfigError.single(problem.key, problem.message, str(file)) from None
    return settings_from_mapping(
        document, profile=profile, environ=env, overrides=overrides, source=str(file)
    )


def settings_from_mapping(
    document: Mapping[str, Any],
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    source: str = "<mapping>",
) -> Settings:
    """Like `load_settings`, from an already parsed TOML document (a mapping of tables).

    Every profile of the document is validated, not only the selected one: a problem that only
    a profile has is reported under `profiles.NAME.<key>`.
    """
    env = os.environ if environ is None else environ
    try:
        check_document(document)
    except TomlProblem as problem:
        raise ConfigError.single(problem.key, problem.message, source) from None
    password_keys = list(find_password_keys(document))
    if password_keys:
        raise ConfigError(
            [
                ConfigProblem(
                    key,
                    f"{key} (value ***) is refused: passwords are never read from the config file; "
                    f"remove the key and set {password_variable_for(key)} in the environment",
                )
                for key in password_keys
            ],
            source,
        )
    chosen = profile or env.get(PROFILE_VARIABLE) or None
    merged = _selection(document, chosen, env, source)
    for dotted, value in (overrides or {}).items():
        shown = SourcedText(value, "command line") if isinstance(value, str) else value
        _assign(merged, tuple(dotted.split(".")), shown, source)
    settings, problems = _structure(merged)
    problems.extend(_other_selections(document, chosen, env, source, {p.key for p in problems}))
    if problems or settings is None:
        raise ConfigError(problems, source)
    return attrs.evolve(settings, secrets=Secrets.from_env(env))


def _structure(document: Mapping[str, Any]) -> tuple[Settings | None, list[ConfigProblem]]:
    try:
        return _converter().structure(document, Settings), []
    except Exception as exc:  # cattrs groups every problem; each becomes one line
        return None, [ConfigProblem(k, m) for k, m in problems_from(exc, document)]


def _selection(
    document: Mapping[str, Any], profile: str | None, env: Mapping[str, str], source: str
) -> dict[str, Any]:
    """The file with `profile` overlaid, then the environment's `ORDERGATE_*` settings."""
    merged = _with_profile(document, profile, source)
    for segments, text in env_overrides(env):
        _assign(merged, segments, text, source)
    return merged


def _other_selections(
    document: Mapping[str, Any],
    chosen: str | None,
    env: Mapping[str, str],
    source: str,
    reported: set[str],
) -> list[ConfigProblem]:
    """Problems of the file with each profile not chosen (and without a profile, when one is),
    in this environment (command-line overrides are the chosen one's alone): a profile that
    would not load is an error now, not when it is first selected. Problems the base file
    already has are reported once, under their own key."""
    profiles = document.get("profiles", {})
    names: list[str | None] = [None, *sorted(profiles)]
    _, base_problems = _structure(_selection(document, None, env, source))
    base = {(p.key, p.message) for p in base_problems}
    found: list[ConfigProblem] = []
    for name in names:
        if name == chosen:
            continue
        problems = (
            base_problems
            if name is None
            else _structure(_selection(document, name, env, source))[1]
        )
        for problem in problems:
            if name is None or (problem.key, problem.message) in base:
                if problem.key not in reported:
                    found.append(problem)
                    reported.add(problem.key)
                continue
            key = f"profiles.{name}.{problem.key}" if problem.key else f"profiles.{name}"
            message = problem.message
            if problem.key and message.startswith(problem.key):
                message = key + message[len(problem.key) :]
            else:
                message = f"{key}: {message}"
            if key not in reported:
                found.append(ConfigProblem(key, message))
                reported.add(key)
    return found


def env_overrides(environ: Mapping[str, str]) -> list[tuple[tuple[str, ...], SourcedText]]:
    """The settings that `environ` overrides: `(key path, text)` pairs, sorted by variable.

    `ORDERGATE_<SECTION>__<KEY>` (double underscore between levels, any case) sets
    `section.key`; `ORDERGATE_MODE`, `ORDERGATE_OPERATOR_ID` and `ORDERGATE_ACCOUNT_ID` set the
    top-level keys. Other `ORDERGATE_*` variables (the profile, the arming variable, passwords,
    the audit HMAC key, test settings) are not settings and are left alone.
    """
    found: list[tuple[tuple[str, ...], SourcedText]] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in _NOT_SETTINGS:
            continue
        rest = upper.removeprefix(ENV_PREFIX).lower()
        if "__" in rest:
            segments = tuple(rest.split("__"))
        elif rest in _TOP_LEVEL_KEYS:
            segments = (rest,)
        else:
            continue
        found.append((segments, SourcedText(environ[name], name)))
    return found


def _with_profile(document: Mapping[str, Any], profile: str | None, source: str) -> dict[str, Any]:
    base = {k: v for k, v in document.items() if k != "profiles"}
    profiles = document.get("profiles", {})
    if not isinstance(profiles, Mapping) or not all(
        isinstance(table, Mapping) for table in profiles.values()
    ):
        raise ConfigError.single(
            "profiles", "profiles: expected tables such as [profiles.live]", source
        )
    if profile is None:
        return _merge({}, base)
    if profile not in profiles:
        defined = ", ".join(sorted(profiles)) or "none"
        raise ConfigError.single(
            f"profiles.{profile}",
            f"profiles.{profile}: profile {profile!r} is not defined in {source} "
            f"(defined: {defined})",
            source,
        )
    return _merge(_merge({}, base), profiles[profile])


def _merge(into: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `overlay` into `into` (tables merge key by key, anything else replaces)."""
    for key, value in overlay.items():
        current = into.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            _merge(current, value)
        elif isinstance(value, Mapping):
            into[key] = _merge({}, value)
        else:
            into[key] = value
    return into


def _assign(
    document: dict[str, Any], segments: tuple[str, ...], value: object, source: str
) -> None:
    where = ".".join(segments)
    if not all(segments):
        raise ConfigError.single(where, f"{where}: empty key segment in {value!r}", source)
    table = document
    for depth, segment in enumerate(segments[:-1]):
        nested = table.setdefault(segment, {})
        if not isinstance(nested, dict):
            parent = ".".join(segments[: depth + 1])
            raise ConfigError.single(
                parent, f"{parent}: is not a table, so {where} cannot be set", source
            )
        table = nested
    table[segments[-1]] = value


# --- display ----------------------------------------------------------------------------------


def settings_rows(settings: Settings) -> list[tuple[str, str]]:
    """Every effective setting as `(dotted key, text)`, secrets shown only as set / not set."""
    rows = list(_rows(settings, ""))
    for name, variable in (
        ("postgres_password", POSTGRES_PASSWORD_VARIABLE),
        ("redis_password", REDIS_PASSWORD_VARIABLE),
    ):
        is_set = getattr(settings.secrets, name) is not None
        rows.append((f"secrets.{name}", f"set (from {variable})" if is_set else "not set"))
    return [(key, settings.secrets.redact(text)) for key, text in rows]


def _rows(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    for field in attrs.fields(type(value)):
        if not field.metadata.get("from_file", True):
            continue
        item = getattr(value, field.name)
        key = f"{prefix}{field.name}"
        if attrs.has(type(item)):
            yield from _rows(item, f"{key}.")
        elif isinstance(item, Mapping):
            for sub_key, sub_value in item.items():
                name = sub_key.value if isinstance(sub_key, enum.Enum) else str(sub_key)
                if attrs.has(type(sub_value)):
                    yield from _rows(sub_value, f"{key}.{name}.")
                else:
                    yield f"{key}.{name}", _text(sub_value)
        else:
            yield key, _text(item)


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)
