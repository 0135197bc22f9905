"""Stopping a server we started (`bentoml serve`) together with every worker it spawned."""

from __future__ import annotations

import contextlib
import subprocess


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
