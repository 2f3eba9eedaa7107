"""`proctor bench streams` as a subprocess: a short real run's JSON, and bad input as exit 2.

The run is short and only checks that the figures are measured and coherent; the figures
themselves belong in docs/benchmarks.md, never in a timed test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROCTOR = [sys.executable, "-m", "server.cli", "bench", "streams"]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROCTOR_DEBUG"}
    return subprocess.run([*PROCTOR, *args], capture_output=True, text=True, timeout=240, env=env, check=False)


def test_two_streams_json() -> None:
    proc = bench("--clients", "2", "--seconds", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar without a terminal, no stray log lines
    out = json.loads(proc.stdout)
    assert out["clients"] == 2 and out["seconds"] == 8 and out["interval_s"] == 3.0
    assert out["frame_size"] == [320, 240] and out["fps"] == 10 and out["device"] == "cpu"

    cpu = out["cpu"]
    assert 7.5 <= cpu["window_s"] <= 12
    assert 0 < cpu["server_pct_per_stream"] and 0 < cpu["clients_pct_per_stream"]
    assert cpu["server_pct_total"] == pytest.approx(2 * cpu["server_pct_per_stream"], abs=0.2)
    assert "server" in cpu["measured"] and "clients" in cpu["measured"]

    samples = out["samples"]
    assert samples["expected_per_client"] == 2 and samples["expected"] == 4
    assert samples["received"] >= samples["expected"] - samples["missing"] > 0
    assert samples["missed"] == samples["missing"] + samples["verifier_unavailable"] + samples["camera_lost"]
    assert sum(samples["reasons"].values()) == samples["received"]
    assert sum(c["received"] for c in out["per_client"]) == samples["received"]
    assert len({c["photo"] for c in out["per_client"]}) == 2  # each student streams their own photo
    assert samples["reasons"].get("ok", 0) >= 1  # enrolled from the photo they stream: verified

    lat = out["latency"]
    assert lat["count"] >= 1
    assert 0 < lat["sample_to_verdict_p50_ms"] <= lat["sample_to_verdict_p99_ms"] <= lat["sample_to_verdict_max_ms"]
    assert 0 < lat["sample_to_client_p50_ms"] <= lat["sample_to_client_p99_ms"]
    assert sum(int(k) * v for k, v in out["batches"]["histogram"].items()) >= lat["count"]

    rss = out["rss_mib"]
    assert len(rss["series"]) >= 8 and all(v > 0 for v in rss["series"])
    assert rss["peak"] == max(rss["series"]) and rss["start"] == rss["series"][0]

    errors = out["errors"]
    for key in ("server_log_errors", "server_loop_exceptions", "client_log_errors", "client_loop_exceptions"):
        assert errors[key] == 0, errors
    assert out["sustained"] is (lat["sample_to_verdict_p99_ms"] < 2000 and samples["missed"] == 0)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--clients", "0"), "--clients"),
        (("--seconds", "-1"), "--seconds"),
        (("--seconds", "2"), "at least one sample interval"),
        (("--interval", "0.01"), "--interval"),
        (("--max-batch-size", "0"), "--max-batch-size"),
        (("--max-wait-ms", "-5"), "--max-wait-ms"),
        (("--clients", "two"), "invalid int value"),
        (("--device", "tpu9"), "unknown device"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], needle: str) -> None:
    proc = bench(*args, "--json")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert proc.stdout == ""
