"""`deepfake data sample --out DIR` never deletes a folder it did not write itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from deepfake_detect.cli.main import app
from deepfake_detect.config import deep_merge

runner = CliRunner()
SMALL = {"n_actors": 2, "fakes_per_real": 1, "frames": 6, "fps": 6, "width": 160, "height": 120}


@pytest.fixture
def sample_cli(tmp_path: Path):
    """``sample_cli(out, *flags)``: run `deepfake data sample` with a small sample into ``out``."""
    params = tmp_path / "params.yaml"
    repo = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    params.write_text(yaml.safe_dump(deep_merge(repo, {"sample": SMALL})))  # the repo's params, a small sample

    def run(out: Path, *flags: str):
        return runner.invoke(app, ["data", "sample", "--out", str(out), "--params", str(params), *flags])

    return run


def _clips(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.mp4"))


def test_sample_refuses_a_users_folder_and_leaves_it_untouched(sample_cli, tmp_path: Path):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "my_clip.mp4").write_bytes(b"precious")
    result = sample_cli(out)
    assert result.exit_code == 2, result.output
    assert str(out) in result.output and "--force" in result.output
    assert [p.name for p in out.iterdir()] == ["my_clip.mp4"]
    assert (out / "my_clip.mp4").read_bytes() == b"precious"


def test_sample_replaces_its_own_previous_sample(sample_cli, tmp_path: Path):
    out = tmp_path / "raw"
    assert sample_cli(out).exit_code == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    result = sample_cli(out)
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # deterministic, same bytes


def test_sample_with_a_users_file_added_is_not_its_own_any_more(sample_cli, tmp_path: Path):
    out = tmp_path / "raw"
    assert sample_cli(out).exit_code == 0
    (out / "notes.txt").write_text("mine")
    assert sample_cli(out).exit_code == 2
    assert (out / "notes.txt").read_text() == "mine"


def test_force_moves_the_users_folder_aside_instead_of_deleting_it(sample_cli, tmp_path: Path):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "my_clip.mp4").write_bytes(b"precious")
    result = sample_cli(out, "--force")
    assert result.exit_code == 0, result.output
    assert len(_clips(out)) == 4 and (out / "metadata.json").exists()
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith("raw.replaced-")]
    assert (aside / "my_clip.mp4").read_bytes() == b"precious"


def test_sample_into_a_file_path_is_refused(sample_cli, tmp_path: Path):
    out = tmp_path / "raw"
    out.write_text("not a folder")
    assert sample_cli(out).exit_code == 2
    assert out.read_text() == "not a folder"
