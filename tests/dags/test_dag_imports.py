"""The DAG files import the installed package: no sys.path hacks, no `python -c` strings."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
DAGS = sorted((REPO / "dags").glob("*.py"))


def test_dag_files_reach_the_package_only_by_import():
    assert DAGS
    for path in DAGS:
        text = path.read_text()
        assert "sys.path" not in text, path.name
        assert not re.search(r"""["']-c["']""", text), f"{path.name} runs a python -c string"
        assert "from deepfake_detect.pipeline import dagops" in text, path.name


def test_list_parts_is_a_command(tiny_sample, workspace):
    from deepfake_detect.cli.main import app

    workspace(data={"raw_dir": str(tiny_sample)})
    res = CliRunner().invoke(app, ["extract", "--list-parts", "--params", "params.yaml"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1]) == ["."]  # a flat DFDC folder is one part
