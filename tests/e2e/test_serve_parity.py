"""Issue 12 item 6, parity mode: `ordergate serve --shadow` runs a dry_run shadow gate beside the
primary on the same signals; each signal's comparison is a `parity.comparison` audit record in
the primary audit, counted in `ordergate_parity_signals_total{outcome}`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.serialization import decode_signal
from ordergate.adapters.system_clock import SystemClock
from ordergate.application.bootstrap import build_application
from ordergate.application.config import load_settings
from ordergate.application.service import ServiceOptions, SignalService

CLI = [sys.executable, "-m", "ordergate.adapters.cli.main"]


def _config(tmp_path: Path) -> Path:
    audit = tmp_path / "audit.db"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[broker]\nkind = "fake"\n[market_data]\nkind = "fake"\n[audit]\npath = "{audit}"\n'
        "[profiles.tight.risk]\nmax_order_quantity = 10\n"
    )
    return config


def _lines(quantities: list[int]) -> list[str]:
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return [
        json.dumps(
            {
                "signal_id": f"P{i}",
                "instrument": {"_type": "Stock", "symbol": "AAPL"},
                "side": "BUY",
                "ts": now,
                "quantity": str(q),
            }
        )
        for i, q in enumerate(quantities)
    ]


def _serve(tmp_path: Path, *flags: str) -> list[dict[str, Any]]:
    config = _config(tmp_path)
    signals = tmp_path / "s.jsonl"
    signals.write_text("\n".join(_lines([5, 20])) + "\n")
    done = subprocess.run(
        [*CLI, "serve", "-c", str(config), "--signals-file", str(signals), *flags],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        rows = conn.execute("SELECT kind, body FROM audit_log ORDER BY seq").fetchall()
    kinds = [kind for kind, _ in rows]
    # the shadow's own decisions stay out of the primary audit: one per signal, the primary's
    assert kinds.count("risk.decision") == 2, kinds
    assert "broker.submit" in kinds  # the primary (paper) sent its approved order
    return [json.loads(body)["payload"] for kind, body in rows if kind == "parity.comparison"]


def test_serve_shadow_with_the_same_settings_matches_every_signal(tmp_path: Path) -> None:
    comparisons = _serve(tmp_path, "--shadow")
    assert [(c["signal_id"], c["match"], c["differences"]) for c in comparisons] == [
        ("P0", True, []),
        ("P1", True, []),
    ]
    assert comparisons[0]["primary"] == comparisons[0]["shadow"]
    assert comparisons[0]["primary"][0]["request"]["quantity"] == "5"


def test_serve_shadow_with_tighter_limits_reports_the_mismatch(tmp_path: Path) -> None:
    comparisons = _serve(tmp_path, "--shadow-profile", "tight")
    first, second = comparisons
    assert (first["signal_id"], first["match"]) == ("P0", True)
    assert (second["signal_id"], second["match"]) == ("P1", False)
    assert second["primary"][0]["approved"] is True
    assert second["shadow"][0]["approved"] is False
    assert second["shadow"][0]["reasons"] == ["MAX_ORDER_QUANTITY"]
    assert "order 0 approved: primary True, shadow False" in second["differences"]


def test_parity_metrics_count_the_comparisons(tmp_path: Path) -> None:
    config = _config(tmp_path)
    primary = load_settings(config)
    tight = load_settings(config, profile="tight")

    async def run() -> dict[str, float]:
        source = InMemorySignalSource(SystemClock(), decode=decode_signal)
        for line in _lines([5, 20, 3]):
            source.push_raw(line)
        app = await build_application(primary)
        async with app, await app.shadow(tight) as shadow:
            options = ServiceOptions(max_signals=3, monitor_interval=None)
            service = SignalService(
                app.gate, source, SystemClock(), options=options, shadow=shadow.gate
            )
            summary = await service.run(asyncio.Event())
            assert (summary.parity_matches, summary.parity_mismatches) == (2, 1)
            assert shadow.gate.mode.value == "dry_run"
            text = generate_latest(app.metrics.registry).decode()
        return {
            s.labels["outcome"]: s.value
            for family in text_string_to_metric_families(text)
            if family.name == "ordergate_parity_signals"
            for s in family.samples
            if s.name == "ordergate_parity_signals_total"
        }

    assert asyncio.run(run()) == {"match": 2.0, "mismatch": 1.0}


def test_a_failing_shadow_never_changes_the_primary(tmp_path: Path) -> None:
    """A shadow whose audit log is closed fails every signal: each comparison is a mismatch
    naming the failure, and the primary decides, sends and acknowledges as without parity."""
    primary = load_settings(_config(tmp_path))

    async def run() -> tuple[list[dict[str, Any]], dict[str, int], int]:
        source = InMemorySignalSource(SystemClock(), decode=decode_signal)
        for line in _lines([5, 20]):
            source.push_raw(line)
        app = await build_application(primary)
        async with app:
            shadow = await app.shadow()
            await shadow.close()  # its audit log and gate are gone: every decision raises
            options = ServiceOptions(max_signals=2, monitor_interval=None)
            service = SignalService(
                app.gate, source, SystemClock(), options=options, shadow=shadow.gate
            )
            summary = await service.run(asyncio.Event())
            entries = await app.gate.audit_entries(kind="parity.comparison")
            submits = len(await app.gate.audit_entries(kind="broker.submit"))
            return [e.record.payload for e in entries], dict(summary.status_counts()), submits

    comparisons, statuses, submits = asyncio.run(run())
    assert [c["match"] for c in comparisons] == [False, False]
    assert all(c["differences"][0].startswith("shadow failed: ") for c in comparisons)
    assert submits == 2
    assert "FAILED" not in statuses
