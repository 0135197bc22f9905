"""dvc.yaml tracks what each stage really reads: its params key by key, the code it imports."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path
from typing import get_args

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "src" / "deepfake_detect"
DVC_YAML = REPO / "dvc.yaml"
# dispatch and validation only (the config package types params.yaml): what they pass on to a stage's
# outputs is a tracked param; files.py says how a file is written (atomically, under a lock), never what it holds
NOT_DEPS = {"errors.py", "files.py"}
NOT_DEPS_UNDER = "config/"
STAGES = {
    "extract": "pipeline.extract",
    "validate": "pipeline.validate",
    "clean": "pipeline.clean",
    "balance": "pipeline.balance",
    "validate_split": "pipeline.validate",
    "evaluate": "pipeline.evaluate",
    "promote": "pipeline.promote",
}


def _file(module: str) -> Path | None:
    path = PKG.joinpath(*module.split("."))
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return path / "__init__.py" if (path / "__init__.py").exists() else None


def _imports(module: str) -> set[str]:
    """Package modules ``module`` imports (``deepfake_detect.…``), at top level or inside functions.
    A subpackage's ``__init__`` counts only when something is imported from it by name."""
    found = set()
    for node in ast.walk(ast.parse(_file(module).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("deepfake_detect."):
            base = node.module.removeprefix("deepfake_detect.")
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if _file(sub) else base)
    return {m for m in found if _file(m)}


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += _imports(m)
    return seen


def _code_deps(stage: dict) -> set[str]:
    """The package modules in a stage's deps, relative to the package."""
    return {d.removeprefix("src/deepfake_detect/") for d in stage["deps"] if d.endswith(".py")}


def _needed(module: str) -> set[str]:
    found = {str(_file(m).relative_to(PKG)) for m in _closure(module)} - NOT_DEPS
    return {f for f in found if not f.startswith(NOT_DEPS_UNDER)}


@pytest.fixture(scope="module")
def dvc_stages() -> dict:
    return yaml.safe_load(DVC_YAML.read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_lists_the_code_it_imports(dvc_stages, name):
    listed, needed = _code_deps(dvc_stages[name]), _needed(STAGES[name])
    assert not needed - listed, f"dvc.yaml stage {name} imports but does not depend on {sorted(needed - listed)}"
    assert not listed - needed, f"dvc.yaml stage {name} depends on code it never imports: {sorted(listed - needed)}"


def test_each_training_stage_lists_the_code_it_imports(dvc_stages):
    stage = dvc_stages["train"]["do"]
    from deepfake_detect.config import ModelName  # every family, trained by default or not, is a possible item

    families = {f"models/{m}.py" for m in get_args(ModelName)}
    for model in families:
        listed = {d.replace("${item}", Path(model).stem) for d in stage["deps"]}
        listed = _code_deps({"deps": sorted(listed)})
        needed = _needed("pipeline.train") - (families - {model})
        assert not needed - listed, f"train {model}: imports but does not depend on {sorted(needed - listed)}"
        assert not listed - needed, f"train {model}: depends on code it never imports: {sorted(listed - needed)}"


def _dvc(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_setting_that_only_spreads_the_work_reruns_nothing(tmp_path, dvc_stages):
    """extract's lock taken with `dvc commit`; then workers changes nothing, margin re-runs it."""
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"extract": dvc_stages["extract"]}}))
    shutil.copy(REPO / "params.yaml", tmp_path)
    shutil.copytree(PKG, tmp_path / "src" / "deepfake_detect", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    (tmp_path / params["data"]["raw_dir"]).mkdir(parents=True)
    (tmp_path / params["data"]["raw_dir"] / "metadata.json").write_text("{}")
    (tmp_path / params["data"]["feedback_dir"]).mkdir(parents=True)  # no labels yet
    for key in ("out_dir", "parts_dir"):
        (tmp_path / params["extract"][key]).mkdir(parents=True)
    for key in ("manifest", "rejects"):
        (tmp_path / params["extract"][key]).write_text("crop_id\n")
    _dvc("init", "--no-scm", "-q", cwd=tmp_path)
    _dvc("commit", "--force", "-q", "extract", cwd=tmp_path)

    def status_after(key: str, value) -> str:
        changed = yaml.safe_load((tmp_path / "params.yaml").read_text())
        changed["extract"][key] = value
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(changed))
        return _dvc("status", "extract", cwd=tmp_path)

    assert "up to date" in status_after("workers", 7)
    assert "up to date" in status_after("verify_batch", 3)
    assert "extract.margin" in status_after("margin", 0.5)
