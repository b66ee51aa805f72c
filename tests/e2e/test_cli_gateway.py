"""`ordergate gateway-sim` serves the TWS emulator until interrupted, then exits 0."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGINT")


def test_gateway_sim_listens_accepts_a_connection_and_stops_on_ctrl_c() -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ordergate.adapters.cli.main", "gateway-sim", "--port", "0"],
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        assert match, line + (process.stderr.read() if process.poll() is not None else "")
        with socket.create_connection((match[1], int(match[2])), timeout=5):
            pass
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_gateway_sim_on_a_port_in_use_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ordergate.adapters.cli.main",
                "gateway-sim",
                "--port",
                str(port),
            ],
            env=base,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert result.returncode == 1
    assert result.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bars", "100"], "--bars 100"),  # bars without a replay to take them
        (["--replay", "--bars", "-1"], "-1"),  # a negative count of days
    ],
)
def test_gateway_sim_bad_replay_options_exit_2_naming_the_value(
    args: list[str], named: str
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    result = subprocess.run(
        [sys.executable, "-m", "ordergate.adapters.cli.main", "gateway-sim", "--port", "0", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
