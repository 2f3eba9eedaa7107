"""`proctor worker` subprocesses for the distributed streams benchmark (and the tests that need real workers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from models.paths import proctor_home


async def terminate(proc: asyncio.subprocess.Process, within_s: float) -> int:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(within_s):
                return await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    return await proc.wait()


class WorkerProcess:
    """One `proctor worker` subprocess; ready once it prints its readiness line (after joining the group)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name, self.proc = name, proc
        self.tail: list[str] = []
        self.ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read_stderr(), name=f"bench-worker-{name}")

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:  # drained to the end, so a chatty worker never blocks
            line = raw.decode(errors="replace").rstrip()
            self.tail = [*self.tail[-9:], line]
            if f"proctor worker {self.name}: ready" in line:
                self.ready.set()

    async def wait_ready(self, within_s: float) -> None:
        exited = asyncio.create_task(self.proc.wait())
        ready = asyncio.create_task(self.ready.wait())
        try:
            async with asyncio.timeout(within_s):
                await asyncio.wait({exited, ready}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise RuntimeError(f"worker {self.name} not ready after {within_s:g} s: "
                               f"{self.tail[-1] if self.tail else 'no output'}") from None
        finally:
            for t in (exited, ready):
                t.cancel()
        if not self.ready.is_set():
            await asyncio.gather(self._reader, return_exceptions=True)
            raise RuntimeError(f"worker {self.name} exited ({self.proc.returncode}) before it was ready: "
                               f"{self.tail[-1] if self.tail else 'no message'}")

    async def stop(self) -> int:
        code = await terminate(self.proc, 15.0)
        await asyncio.gather(self._reader, return_exceptions=True)
        return code


async def start_workers(k: int, redis_url: str, device: str, secret: str,
                        backend: str = "auto") -> list[WorkerProcess]:
    env = {**os.environ, "PROCTOR_HOME": str(proctor_home()), "PROCTOR_REDIS_SECRET": secret}
    workers = []
    for i in range(1, k + 1):
        name = f"w{i}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "worker", "--redis-url", redis_url, "--device", device,
            "--backend", backend,
            "--consumer", name, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env)
        workers.append(WorkerProcess(name, proc))
    return workers
