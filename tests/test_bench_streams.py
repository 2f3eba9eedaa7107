"""`proctor bench streams` as a subprocess: short real runs' JSON (local and one worker), bad input as exit 2.

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
    assert cpu["window_s"] > 0  # its length is the machine's business; the figures must agree with it
    busy_s = cpu["server_user_s"] + cpu["server_sys_s"]
    assert cpu["server_pct_total"] == pytest.approx(100 * busy_s / cpu["window_s"], abs=0.2)
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
    # Batched frames cover the timed calls, except at most one per client still in flight at the snapshot.
    assert sum(int(k) * v for k, v in out["batches"]["histogram"].items()) >= lat["count"] - out["clients"]

    rss = out["rss_mib"]
    assert len(rss["series"]) >= 8 and all(v > 0 for v in rss["series"])
    assert rss["peak"] == max(rss["series"]) and rss["start"] == rss["series"][0]

    errors = out["errors"]
    for key in ("server_log_errors", "server_loop_exceptions", "client_log_errors", "client_loop_exceptions"):
        assert errors[key] == 0, errors
    assert out["sustained"] is (lat["sample_to_verdict_p99_ms"] < 2000 and samples["missed"] == 0)
    assert out["mode"] == "local" and out["workers"] == 0 and out["workers_cpu"] == []
    assert cpu["media_pct_per_stream"] == cpu["server_pct_per_stream"]
    assert out["streams_per_core_media"] == pytest.approx(100 / cpu["media_pct_per_stream"], rel=0.01)


def test_one_worker_distributed_json() -> None:
    """A private redis-server, one `proctor worker` answering; the media node runs no inference."""
    proc = bench("--workers", "1", "--clients", "2", "--seconds", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the worker's readiness line and logs are read by the benchmark, not passed on
    out = json.loads(proc.stdout)
    assert out["mode"] == "distributed" and out["workers"] == 1 and out["device"] == "cpu"
    samples = out["samples"]
    assert samples["reasons"].get("ok", 0) >= 1  # answered by the worker: the node has no batcher
    assert samples["verifier_unavailable"] == 0
    assert out["batches"]["histogram"] is None

    (worker,) = out["workers_cpu"]
    assert worker["name"] == "w1" and worker["cpu_pct"] is not None and worker["cpu_pct"] > 0
    assert worker["exit_code"] == 0  # SIGTERM: a clean stop
    cpu = out["cpu"]
    assert cpu["workers_pct_total"] == worker["cpu_pct"]
    assert 0 < cpu["media_pct_per_stream"] == cpu["server_pct_per_stream"]
    assert out["streams_per_core_media"] == pytest.approx(100 / cpu["media_pct_per_stream"], rel=0.01)
    assert out["latency"]["count"] >= 1 and "RedisVerifier" in out["latency"]["measured"]
    for key in ("server_log_errors", "server_loop_exceptions", "client_log_errors", "client_loop_exceptions"):
        assert out["errors"][key] == 0, out["errors"]


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
        (("--workers", "-1"), "--workers"),
        (("--redis-url", "redis://127.0.0.1:1/0"), "--redis-url needs --workers"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], needle: str) -> None:
    proc = bench(*args, "--json")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert proc.stdout == ""
