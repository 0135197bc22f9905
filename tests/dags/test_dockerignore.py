"""The project image's build context (the repository root, `COPY . .`) leaves out secrets, local
state, data and models, and keeps what the image runs. Checked by reading .dockerignore with
Docker's own rules (no Docker engine here): Go ``filepath.Match`` patterns plus ``**``, a
pattern that matches a folder excludes everything in it, ``!`` re-includes, and the last
matching line wins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERIGNORE = REPO / ".dockerignore"

NEVER_IN_THE_IMAGE = [
    ".env",
    ".env.local",
    ".airflow-passwords.json",
    ".dvc/config.local",
    ".dvc/cache/files/md5/ab/cdef0123",
    ".dvc/tmp/lock",
    ".venv/bin/python",
    "data/raw/metadata.json",
    "data/interim/manifest.csv",
    "data/feedback/faces_224/0123456789ab_f0004_0.jpg",  # labelled review crops: faces of people
    "logs/review/0123456789ab/item.json",
    "models/promoted/record.json",
    "models/releases/history.json",
    "logs/requests/2026-01-01.jsonl",
    "metrics/xception.json",
    "reports/drift/latest.json",
    "plots/eval/roc/xception.csv",
    "bentoml_home/models/deepfake-detector/latest",
    "airflow_home/airflow.db",
    "airflow_home/postgres/password",
    "bench/results/soak.json",
    "src/deepfake_detect/__pycache__/cli.cpython-311.pyc",
    ".pytest_cache/v/cache/nodeids",
    "kaggle.json",
]
NEEDED_BY_THE_IMAGE = [
    "pyproject.toml",
    "constraints.txt",
    "README.md",
    "params.yaml",
    "dvc.yaml",
    "dvc.lock",
    "data.dvc",
    ".dvc/config",
    ".dvcignore",
    ".env.example",
    "src/deepfake_detect/cli/main.py",
    "dags/deepfake_retrain.py",
    "serving/service.py",
    "tests/data/test_parts.py",  # a folder named data elsewhere is not the data folder
]


def _regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern (filepath.Match + ``**``) as a regex over slash-separated paths."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" : zero or more folders
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules(text: str) -> list[tuple[re.Pattern[str], bool]]:
    """``(pattern, excludes)`` per line, as Docker reads them (comments and blanks skipped)."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line[1:].strip() if include else line
        pattern = pattern.strip("/")
        rules.append((_regex(pattern), not include))
    return rules


def excluded(path: str, rules: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Whether Docker leaves ``path`` out: the last rule matching it or a folder above it decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    result = False
    for regex, excludes in rules:
        if any(regex.match(p) for p in prefixes):
            result = excludes
    return result


@pytest.fixture(scope="module")
def rules() -> list[tuple[re.Pattern[str], bool]]:
    assert DOCKERIGNORE.is_file(), f"{DOCKERIGNORE}: missing (docker/*.Dockerfile build from the repo root)"
    return dockerignore_rules(DOCKERIGNORE.read_text())


@pytest.mark.parametrize("path", NEVER_IN_THE_IMAGE)
def test_secrets_state_data_and_models_stay_out_of_the_image(rules, path: str):
    assert excluded(path, rules), f"{path} would be copied into the image"


@pytest.mark.parametrize("path", NEEDED_BY_THE_IMAGE)
def test_what_the_image_runs_is_kept(rules, path: str):
    assert (REPO / path).exists(), f"{path}: not in the repository any more; update this list"
    assert not excluded(path, rules), f"{path} is needed in the image but .dockerignore leaves it out"


def test_the_matcher_follows_dockers_rules():
    rules = dockerignore_rules("data\n**/*.pyc\n.env*\n!.env.example\n")
    assert excluded("data/raw/a.mp4", rules) and not excluded("tests/data/a.py", rules)
    assert excluded("a/b/c.pyc", rules) and excluded("c.pyc", rules)
    assert excluded(".env", rules) and excluded(".env.prod", rules) and not excluded(".env.example", rules)
