"""DVC over S3, as the README's remote section says: a real S3 API on 127.0.0.1 (moto's server, the
one DVC's own tests use), `dvc push` from one clone after `dvc repro`, `dvc pull` into a fresh
`git clone`: the raw data, the manifests and the trained model arrive byte for byte.

The served release (models/promoted -> models/releases/<tag>, and its BentoML store entry) is
deployment state, not a DVC output (see dvc.yaml, promote): what travels is the trained model folder
promote copied it from (its model file equals the release's), and `dvc repro` in the fresh clone
promotes a release with the same model and projection files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from deepfake_detect.data.sample import SAMPLE_MARKER

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUCKET = "deepfake-dvc"  # the team stack's DVC_BUCKET (.env.example)
TINY = {
    "sample": {"n_actors": 4, "fakes_per_real": 1, "frames": 10, "fps": 10, "width": 240, "height": 180},
    "extract": {"frames_per_video": 4, "workers": 1},
    "train": {"models": ["sklearn_fft"]},  # the fast family: the whole `dvc repro` takes under a minute
    "promote": {"embedding_samples": 16, "embedding_components": 4},
}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*cmd: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _tree(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under folder (symlinks followed)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def s3_endpoint():
    """moto's S3 server on a free 127.0.0.1 port, in its own process group; stopped afterwards."""
    pytest.importorskip("moto", reason="pip install -e '.[dev]' -c constraints.txt (moto[server])")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_push_then_pull_into_a_fresh_clone_gives_the_same_data_and_model(tmp_path, s3_endpoint):
    import boto3

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env['PATH']}",
            "AWS_ACCESS_KEY_ID": "deepfake-test",
            "AWS_SECRET_ACCESS_KEY": "deepfake-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "BENTOML_HOME": str(tmp_path / "bentoml"),
            "DVC_NO_ANALYTICS": "1",
            "DO_NOT_TRACK": "1",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
        }
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)  # the team stack's minio-init does this for MinIO

    # machine A: a checkout of the project (its .gitignore: data, models and reports stay out of git)
    a = tmp_path / "a"
    a.mkdir()
    shutil.copytree(REPO / "src", a / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    tracked = subprocess.run(["git", "ls-files", "*.dvc"], cwd=REPO, capture_output=True, text=True).stdout.split()
    for name in ("dvc.yaml", ".dvcignore", ".gitignore", *tracked):  # the .dvc files: data.dvc
        (a / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, a / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section] = {**params[section], **values}
    (a / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run("git", "init", "-q", cwd=a, env=env)
    _run("dvc", "init", "-q", cwd=a, env=env)
    _run("git", "add", "-A", cwd=a, env=env)
    _run("git", "commit", "-q", "-m", "the project", cwd=a, env=env)
    # the README's remote section, command for command (the credentials are in env, as AWS_*)
    _run("dvc", "remote", "add", "-d", "storage", f"s3://{BUCKET}/cache", cwd=a, env=env)
    _run("dvc", "remote", "modify", "storage", "endpointurl", s3_endpoint, cwd=a, env=env)
    _run("deepfake", "data", "sample", cwd=a, env=env)  # the new raw data
    _run("dvc", "add", "data/raw", cwd=a, env=env)
    _run("dvc", "repro", cwd=a, env=env)  # its feedback stage versions data/feedback (no labels: empty)
    _run("git", "add", "data.dvc", "dvc.lock", ".dvc/config", cwd=a, env=env)
    _run("git", "commit", "-q", "-m", "data: the embedded sample", cwd=a, env=env)
    _run("dvc", "push", cwd=a, env=env)
    stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="cache/")
    assert stored.get("KeyCount", 0) > 0, "dvc push left the bucket empty"

    decision = json.loads((a / params["promote"]["decision"]).read_text())
    assert decision["promoted"] is True, decision
    release = (a / params["promote"]["dir"]).resolve()
    trained = Path(params["train"]["models_dir"]) / decision["candidate"]

    # machine B: a fresh clone, nothing but git and the remote (no cache, no workspace files)
    b = tmp_path / "b"
    _run("git", "clone", "-q", str(a), str(b), cwd=tmp_path, env=env)
    assert not (b / "data/raw").exists() and not (b / trained).exists()
    _run("dvc", "pull", cwd=b, env=env)

    raw = {k: v for k, v in _tree(a / "data/raw").items() if k != SAMPLE_MARKER}  # in .dvcignore: not data
    assert _tree(b / "data/raw") == raw
    assert len(raw) == len(json.loads((a / "data/raw/metadata.json").read_text())) + 1  # the clips + metadata.json
    assert _tree(b / trained) == _tree(a / trained)
    model_files = set(_tree(a / trained)) - {"record.json"}  # promote rewrites the record (tag, threshold)
    assert model_files, f"{trained} holds no model file"
    for name in model_files:
        assert (b / trained / name).read_bytes() == (release / name).read_bytes(), name
    for out in (params["extract"]["manifest"], params["balance"]["manifest"]):
        assert (b / out).read_bytes() == (a / out).read_bytes(), out

    # machine B serves it: `dvc repro` promotes the same model (the release's record has its own tag and
    # time). It re-runs the stages after extract: their Great Expectations reports are `cache: false`, so
    # not pushed, and clean and train depend on them
    env_b = {**env, "BENTOML_HOME": str(tmp_path / "bentoml-b")}  # B's own model store
    out = _run("dvc", "repro", cwd=b, env=env_b)
    assert "Stage 'extract' didn't change" in out, out[-2000:]  # the pulled crops serve as they are
    served = (b / params["promote"]["dir"]).resolve()
    assert set(_tree(served)) == set(_tree(release))
    for name in set(_tree(release)) - {"record.json"}:
        assert (served / name).read_bytes() == (release / name).read_bytes(), name
