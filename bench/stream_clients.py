"""The client side of `proctor bench streams`: N students streaming at once, in their own process.

Run as `python -m bench.stream_clients` by bench/streams.py, which writes the configuration as JSON
on stdin. Each student is a `bench.clients.StreamClient` (the one the tests use) over its own
login. The process speaks JSON lines on stdout: `streaming` when every client is connected (the
window opens), `window_end` with this process's CPU after the window, then `result`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from models.frames import photo_to_frame
from models.images import read_image_file

from .clients import StreamClient, moving_frames
from .measure import LogCounter, percentile_ms, usage


async def _student(url: str, srn: str, password: str) -> tuple[aiohttp.ClientSession, str]:
    # unsafe=True: the default jar refuses cookies from an IP address such as 127.0.0.1.
    http = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
    resp = await http.post("/api/auth/login", json={"srn": srn, "password": password})
    body = await resp.json()
    if resp.status != 200:
        await http.close()
        raise RuntimeError(f"{srn}: login failed: {body}")
    return http, str(body["csrf_token"])


def _frames_of(photo: Path, size: tuple[int, int]) -> list[np.ndarray]:
    still = read_image_file(photo)
    return moving_frames(lambda shift: photo_to_frame(still, size=size, shift=shift))


def _sampled(client: StreamClient, start: float, end: float) -> list[tuple[float, str, float]]:
    """(sampled_at, reason, received wall time) of each sample taken inside the window, once each.

    Visibility changes resend the last status, so statuses are keyed by the sample count.
    """
    seen: dict[int, tuple[float, str, float]] = {}
    for st in client.statuses:
        if st["sampled_at"] is not None:
            seen.setdefault(st["samples"]["total"], (st["sampled_at"], st["reason"], st["received_wall"]))
    return [v for v in seen.values() if start <= v[0] <= end]


async def run_clients(config: dict[str, Any]) -> dict[str, Any]:
    logs = LogCounter()
    logging.getLogger().addHandler(logs)
    loop_errors: list[str] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(str(ctx.get("message"))))
    size = (int(config["size"][0]), int(config["size"][1]))
    frames: dict[str, list[np.ndarray]] = {}
    for s in config["students"]:
        if s["photo"] not in frames:
            frames[s["photo"]] = _frames_of(Path(s["photo"]), size)
    sessions: list[aiohttp.ClientSession] = []
    clients: list[StreamClient] = []
    try:
        async with asyncio.timeout(float(config["connect_timeout"])):
            for s in config["students"]:
                http, csrf = await _student(config["url"], s["srn"], config["password"])
                sessions.append(http)
                clients.append(StreamClient(http, csrf, fps=int(config["fps"])))
            await asyncio.gather(*(c.start(frames[s["photo"]], config["topic_id"])
                                   for c, s in zip(clients, config["students"], strict=True)))
            await asyncio.gather(*(c.connected.wait() for c in clients))
        start, u0 = time.time(), usage()
        _say({"event": "streaming", "at": start})
        await asyncio.sleep(float(config["seconds"]))  # the measurement window: the clients stream meanwhile
        end, u1 = time.time(), usage()
        _say({"event": "window_end", "at": end, "cpu_s": (u1.user - u0.user) + (u1.sys - u0.sys)})
        await asyncio.sleep(float(config["grace"]))  # still streaming: no camera_lost at the edge
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await asyncio.gather(*(h.close() for h in sessions), return_exceptions=True)
        logging.getLogger().removeHandler(logs)
    delays: list[float] = []
    rows = []
    for c, s in zip(clients, config["students"], strict=True):
        inside = _sampled(c, start, end)
        delays.extend(received - at for at, _reason, received in inside)
        rows.append({"srn": s["srn"], "photo": Path(s["photo"]).parent.name + "/" + Path(s["photo"]).name,
                     "received": len(inside), "reasons": dict(Counter(r for _at, r, _rc in inside))})
    return {"event": "result", "clients": rows, "sample_to_client_p50_ms": percentile_ms(delays, 50),
            "sample_to_client_p99_ms": percentile_ms(delays, 99),
            "log_errors": logs.levels["ERROR"] + logs.levels["CRITICAL"],
            "loop_errors": len(loop_errors), "messages": logs.messages + loop_errors[:5]}


def _say(msg: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def main() -> int:
    try:
        _say(asyncio.run(run_clients(json.loads(sys.stdin.read()))))
    except Exception as exc:
        _say({"event": "error", "message": f"{exc.__class__.__name__}: {exc}"[:500]})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
