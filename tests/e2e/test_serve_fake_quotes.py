"""Issue 11 part 2: on the fake broker, `ordergate serve` does not deny every signal for lack of
market data — the fake market quotes each session symbol at its last close in the session's
data (and the fake broker fills there)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

CLI = [sys.executable, "-m", "ordergate.adapters.cli.main"]


def test_serve_on_the_fake_broker_approves_a_signal_with_a_quote(tmp_path: Path) -> None:
    audit = tmp_path / "audit.db"
    config = tmp_path / "c.toml"
    config.write_text(
        f'[broker]\nkind = "fake"\n[market_data]\nkind = "fake"\n[audit]\npath = "{audit}"\n'
    )
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    signal = {
        "signal_id": "F1",
        "instrument": {"_type": "Stock", "symbol": "AAPL"},
        "side": "BUY",
        "ts": now,
        "quantity": "5",
    }
    signals = tmp_path / "s.jsonl"
    signals.write_text(json.dumps(signal) + "\n")
    done = subprocess.run(
        [*CLI, "serve", "-c", str(config), "--signals-file", str(signals)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(audit) as conn:
        [(body,)] = conn.execute("SELECT body FROM audit_log WHERE kind = 'risk.decision'")
    decision = json.loads(body)["payload"]
    assert decision["approved"] is True, decision["denials"]
    assert "DENIED" not in done.stdout
