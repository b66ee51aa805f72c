"""Issue 11 parts 2 and 5 on the sim broker: SIGTERM with `[serve] on_stop = "cancel"` cancels
this gate's working orders through the gate and exits 0 (the position stays, and the restart
adopts it); `reset-paper` refuses while serve holds the account and off paper (exit 3), and
otherwise leaves a flat account the next serve adopts."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.domain.values import Side
from tests.e2e._serve_rig import ServeRig

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]


@pytest.fixture
def rig(tmp_path: Path, redis_url: str) -> Iterator[ServeRig]:
    rig = ServeRig(tmp_path, redis_url, extra='on_stop = "cancel"')
    yield rig
    rig.close()


def test_sigterm_cancels_working_orders_then_reset_paper_leaves_a_flat_account(
    rig: ServeRig,
) -> None:
    rig.start()
    rig.send("ST-BUY", "IBM", Side.BUY, 4)
    rig.wait_for(lambda: rig.positions().get("IBM") == Decimal(4), 30, "the IBM fill")
    limit = (rig.spot("IBM") * Decimal("1.05")).quantize(Decimal("0.01"))
    rig.send("ST-LIMIT", "IBM", Side.SELL, 2, limit=limit)
    rig.wait_for(rig.orders, 20, "the working limit order")

    # reset-paper refuses while serve holds the account, naming it
    refused = rig.cli("reset-paper", "-c", str(rig.config))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "another ordergate serve already runs" in refused.stderr

    # SIGTERM: drains, cancels the working order through the gate, exits 0
    assert rig.kill(signal.SIGTERM) == 0
    rig.start()
    assert rig.orders() == {}  # cancelled at the broker before the first process left
    assert rig.positions() == {"IBM": Decimal(4)}  # the position stays
    assert rig.kill(signal.SIGTERM) == 0

    # off paper, reset-paper is refused before anything connects
    paper = rig.config.read_text()
    rig.config.write_text(paper.replace('mode = "paper"', 'mode = "dry_run"'))
    off_paper = rig.cli("reset-paper", "-c", str(rig.config))
    assert off_paper.returncode == 3, off_paper.stdout + off_paper.stderr
    assert "only on a paper account" in off_paper.stderr
    rig.config.write_text(paper)

    reset = rig.cli("reset-paper", "-c", str(rig.config))
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "1 positions and 0 working orders before" in reset.stdout

    # the next serve adopts the flat account
    rig.start()
    assert rig.positions() == {}
    assert rig.orders() == {}
    assert rig.kill(signal.SIGTERM) == 0
