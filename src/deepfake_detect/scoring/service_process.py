"""Starting `bentoml serve` on a free loopback port and waiting until it is ready, and stopping it
together with every worker it spawned (the tests and the benchmarks share these)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

from deepfake_detect.errors import DeepfakeError

SERVICE = "serving.service:DeepfakeDetector"


class ServerStartError(DeepfakeError, RuntimeError):
    """`bentoml serve` exited or did not become ready (the message carries the end of its log)."""


def start_bentoml_serve(
    env: dict[str, str], log_path: Path, cwd: Path, ready_timeout: float, port: int | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the service on 127.0.0.1 at ``port`` (default: a free one), logging to ``log_path``; return the
    process and its URL once ``/readyz`` answers 200. The process is stopped again if it never gets ready.
    A caller that must name the URL before the service runs (a reload URL handed to Airflow) passes the port."""
    import httpx

    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    bentoml = str(Path(sys.executable).parent / "bentoml")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [bentoml, "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + ready_timeout
    while True:
        if proc.poll() is not None:
            raise ServerStartError(f"bentoml serve exited: {log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        if time.time() > deadline:
            stop_process_tree(proc)
            raise ServerStartError(f"server not ready in {ready_timeout:.0f} s: {log_path.read_text()[-3000:]}")
        time.sleep(1)


def stop_process_tree(proc: subprocess.Popen, timeout: float = 30) -> None:
    """TERM the process and all its descendants (BentoML workers run in their own process groups,
    so a signal to the parent alone leaves them behind), then KILL whatever is left after ``timeout``."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
