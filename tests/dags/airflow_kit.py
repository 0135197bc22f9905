"""Airflow 3 on the project's PostgreSQL for the DAG tests: scripts/airflow-local.sh started in a temporary
AIRFLOW_HOME, its REST API (v2) as the simple auth manager's admin, and what the script left running.
test_airflow_postgres.py and test_operations_loop.py share it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "airflow-local.sh"
PG_INSTALL = "apt-get install -y postgresql   # Debian: server binaries in /usr/lib/postgresql/<version>/bin"


def pg_available() -> bool:
    return bool(list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*cmd: str, cwd: Path, env: dict[str, str], timeout: int = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


class Api:
    """Airflow's REST API (v2) as the simple auth manager's admin."""

    def __init__(self, port: int, passwords: Path):
        self.base = f"http://127.0.0.1:{port}"
        body = {"username": "admin", "password": json.loads(passwords.read_text())["admin"]}
        self.token = self._call("POST", "/auth/token", body, auth=False)["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def post(self, path: str, body: dict) -> dict:
        return self._call("POST", path, body)


def wait_for(what: str, probe, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError as exc:  # urllib's HTTPError/URLError: not there yet
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


def roots(home: Path) -> set[int]:
    """The pids the script recorded: each Airflow component (run/<name>.pid, a session leader of its
    own) and the cluster's postmaster (postgres/data/postmaster.pid, its first line)."""
    files = [*(home / "run").glob("*.pid"), home / "postgres" / "data" / "postmaster.pid"]
    pids = set()
    for f in files:
        try:
            pids.add(int(f.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def started_by(home: Path, roots: set[int]) -> list[Path]:
    """/proc entries of what the script started: the recorded pids, every process of their sessions
    or with one as parent, and any process whose environment names this AIRFLOW_HOME (tasks).
    Environments alone miss some: postgres and setproctitle write process titles over them."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            family = {int(proc.name), int(stat[1]), int(stat[3])}  # pid, parent, session
            if stat[0] == "Z":  # exited, waiting for its parent to reap it: not running
                continue
            if family & roots or marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(proc)
        except OSError:  # gone meanwhile
            continue
    return found


def leftovers(home: Path, roots: set[int]) -> list[str]:
    out = []
    for proc in started_by(home, roots):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")[:150].decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        out.append(f"{proc.name}: {cmdline}")
    return out


def listening(home: Path) -> set[str]:
    """host:port of every TCP socket those processes listen on (from /proc/net/tcp and tcp6)."""
    inodes = set()
    for proc in started_by(home, roots(home)):
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                addr, port = cols[1].split(":")
                host = socket.inet_ntop(
                    socket.AF_INET if len(addr) == 8 else socket.AF_INET6,
                    b"".join(bytes.fromhex(addr[i : i + 8])[::-1] for i in range(0, len(addr), 8)),
                )
                found.add(f"{host}:{int(port, 16)}")
    return found


def task_logs(home: Path, tis: list[dict]) -> str:
    """The tail of the log of each task that failed or has not finished, for the assertion message."""
    out = []
    for ti in tis:
        if ti["state"] not in ("success", "skipped", "upstream_failed", None):
            for log in sorted((home / "logs").glob(f"dag_id=*/run_id=*/task_id={ti['task_id']}/**/*.log")):
                out.append(f"--- {log.relative_to(home)}\n" + "\n".join(log.read_text().splitlines()[-25:]))
    return "\n".join(out)
