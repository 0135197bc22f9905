"""The `deepfake` CLI's data commands, the Kaggle download's failure modes, the sample generator,
and params validation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepfake_detect.cli.main import app
from deepfake_detect.config import ConfigError, load_params
from deepfake_detect.data.download import DownloadError, download

runner = CliRunner()


def test_help_lists_every_stage():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("extract", "validate", "clean", "balance", "data"):
        assert command in result.output


def test_download_without_credentials_says_what_to_do_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "nokaggle"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "raw"
    with pytest.raises(DownloadError, match=r"kaggle\.json"):
        download("deepfake-faces", out)
    assert list(tmp_path.iterdir()) == []  # no raw/ and no raw.download/ left behind


def test_download_offline_fails_cleanly(tmp_path, monkeypatch):
    """With credentials but no route to kaggle.com (this sandbox, CI), nothing partial is left."""
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "cfg"))
    out = tmp_path / "raw"
    try:
        download("deepfake-faces", out)
    except DownloadError as exc:
        assert "deepfake-faces" in str(exc) or "credentials" in str(exc)
    else:  # pragma: no cover - only where kaggle.com is reachable and the key is valid
        pytest.skip("kaggle.com reachable with these credentials")
    assert not out.exists() and not (tmp_path / "raw.download").exists()


def test_download_rejects_unknown_dataset_and_non_empty_target(tmp_path):
    with pytest.raises(DownloadError, match="unknown dataset"):
        download("imagenet", tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(DownloadError, match="already holds data"):
        download("deepfake-faces", tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_cli_download_exit_code_and_message(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "none"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    result = runner.invoke(app, ["data", "download", "deepfake-faces", "--out", str(tmp_path / "raw")])
    assert result.exit_code == 2
    assert "Kaggle credentials not found" in result.output


def test_layout_command(tiny_sample, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    result = runner.invoke(app, ["data", "layout", str(tiny_sample)])
    assert result.exit_code == 0, result.output
    assert "part .: dfdc_videos: 6 clips (3 FAKE, 3 REAL; sample), 3 groups, 0 rejected" in result.output


def test_layout_command_lists_each_source_of_a_mixed_folder(shared_root):
    result = runner.invoke(app, ["data", "layout", str(shared_root)])
    assert result.exit_code == 0, result.output
    assert f"{shared_root}: mixed" in result.output
    for part in ("deepfake-faces: deepfake_faces", "ffpp-c23: dfdc_videos", "videos: dfdc_videos"):
        assert f"part {part}:" in result.output


def test_sample_is_deterministic(tmp_path):
    from deepfake_detect.config import SampleParams
    from deepfake_detect.data.sample import generate_sample

    p = SampleParams(n_actors=2, fakes_per_real=1, frames=6, fps=6, width=160, height=120)

    def digest(folder: Path) -> str:
        return hashlib.md5(b"".join(f.read_bytes() for f in sorted(folder.iterdir()))).hexdigest()

    a = generate_sample(tmp_path / "a", p, seed=3)
    b = generate_sample(tmp_path / "b", p, seed=3)
    assert a == b and digest(tmp_path / "a") == digest(tmp_path / "b")
    meta = json.loads((tmp_path / "a" / "metadata.json").read_text())
    assert sorted(v["label"] for v in meta.values()) == ["FAKE", "FAKE", "REAL", "REAL"]
    assert not (tmp_path / "a.partial").exists()


def test_params_errors_name_the_field(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("extract:\n  frames_per_video: 0\n")
    with pytest.raises(ConfigError, match=r"extract\.frames_per_video"):
        load_params(path)
    path.write_text("extract:\n  framez: 3\n")
    with pytest.raises(ConfigError, match=r"extract\.framez"):
        load_params(path)
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_repo_params_load():
    params = load_params(Path(__file__).resolve().parents[2] / "params.yaml")
    assert params.extract.frames_per_video >= 1 and params.balance.strategy in {
        "none",
        "undersample",
        "oversample",
        "self_blend",
    }
