"""`ordergate check-config`: validate a configuration and show the effective settings.

Prints every setting with where its value came from (default, file, profile, environment
variable), secrets only as set / not set. Valid means every value lies in its domain (every
profile of the file included) and the adapters selected can start on this machine (the audit
file can be written, the extras they need are installed, the simulator has the session's bars).
Exit 0 when valid, 2 when not (each bad key and value on stderr); with `--check-arming`, 3 when
trading with these settings would be refused.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ordergate.adapters.cli.app import (
    ConfigOption,
    ProfileOption,
    exit_on_errors,
    load,
    out_console,
)
from ordergate.adapters.cli.exit_codes import ExitCode
from ordergate.adapters.preflight import check_can_start
from ordergate.application.arming import ArmingRefused, check_arming
from ordergate.application.config import (
    CONFIG_VARIABLE,
    PROFILE_VARIABLE,
    Settings,
    env_overrides,
    settings_rows,
)

__all__ = ["check_config", "register"]


def register(app: typer.Typer) -> None:
    """Add `check-config` to `app`."""
    app.command("check-config")(check_config)


def check_config(
    *,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    check_arming_: Annotated[
        bool,
        typer.Option(
            "--check-arming",
            help="Exit 3 if trading with these settings would be refused (live not armed, "
            "mode/port/account mismatch).",
        ),
    ] = False,
) -> None:
    """Validate the configuration and print the effective settings (secrets redacted)."""
    with exit_on_errors():
        settings = load(config, profile)
        check_can_start(settings)  # valid means the selected adapters can start here
    file = config if config is not None else _env_path()
    chosen = profile or os.environ.get(PROFILE_VARIABLE) or None
    sources = _sources(file, chosen)
    console = out_console()
    title = f"ordergate settings: {file or 'built-in defaults'}"
    if chosen:
        title += f" (profile {chosen})"
    rows = settings_rows(settings)
    table = Table(title=title, title_justify="left")
    # Keys are what scripts and people grep for: never wrap them, fold the values instead.
    table.add_column("key", no_wrap=True, min_width=max(len(key) for key, _ in rows))
    table.add_column("value", overflow="fold")
    table.add_column("from", overflow="fold")
    for key, text in rows:
        default = "environment" if key.startswith("secrets.") else "default"
        table.add_row(key, text, sources.get(key, default))
    console.print(table)
    refusal = _arming_refusal(settings)
    if refusal is None:
        console.print(f"arming: mode {settings.mode.value} may start", markup=False)
    else:
        console.print(f"arming: {settings.secrets.redact(str(refusal))}", markup=False)
    console.print("configuration is valid", markup=False)
    if refusal is not None and check_arming_:
        raise typer.Exit(int(ExitCode.REFUSED))


def _env_path() -> Path | None:
    value = os.environ.get(CONFIG_VARIABLE)
    return Path(value) if value else None


def _arming_refusal(settings: Settings) -> ArmingRefused | None:
    try:
        check_arming(settings, os.environ)
    except ArmingRefused as refusal:
        return refusal
    return None


def _sources(file: Path | None, profile: str | None) -> dict[str, str]:
    """Dotted key → where its value came from (the file was already validated by the loader)."""
    sources: dict[str, str] = {}
    if file is not None:
        with file.open("rb") as handle:
            document = tomllib.load(handle)
        profiles = document.pop("profiles", {})
        sources.update(dict.fromkeys(_leaves(document), "file"))
        if profile is not None:
            sources.update(dict.fromkeys(_leaves(profiles.get(profile, {})), f"profile {profile}"))
    for segments, text in env_overrides(os.environ):
        sources[".".join(segments)] = text.source
    return sources


def _leaves(document: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in document.items():
        if isinstance(value, Mapping):
            keys.extend(_leaves(value, f"{prefix}{key}."))
        else:
            keys.append(f"{prefix}{key}")
    return keys
