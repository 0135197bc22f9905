"""Promotion: only a better model is promoted; an interrupted promote leaves the previous model
served; rollback serves the previous release again; the BentoML store gets each promotion."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from deepfake_detect.config import Params
from deepfake_detect.metrics import MetricsError
from deepfake_detect.predictor import load_predictor, read_record
from deepfake_detect.stages import promote as promote_stage
from deepfake_detect.stages.evaluate import run_evaluate
from deepfake_detect.stages.train import run_train


def _worse_model(p: Params) -> None:
    """Replace the trained sklearn model by a real but uninformed pipeline (constant prior): AUC 0.5."""
    folder = p.train.models_dir / "sklearn_fft"
    model = joblib.load(folder / "model.joblib")
    x = np.zeros((4, model.named_steps["scale"].n_features_in_))
    dummy = Pipeline([("clf", DummyClassifier(strategy="prior"))]).fit(x, [0, 1, 1, 0])
    joblib.dump(dummy, folder / "model.joblib")


@pytest.fixture
def promoted(split_manifest: Path, tmp_path: Path, make_params, bento_home: Path) -> Params:
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    decision = promote_stage.run_promote(p)
    assert decision["promoted"] and decision["current"] is None
    return p


def test_first_promotion_serves_the_model_and_saves_it_to_bentoml(promoted: Params):
    import bentoml

    p = promoted
    served = load_predictor(p.promote.dir)
    metrics = json.loads((p.evaluate.metrics_dir / "sklearn_fft.json").read_text())
    assert p.promote.dir.is_symlink()
    assert served.threshold == pytest.approx(metrics["threshold"])
    assert served.record["metrics"]["auc"] == pytest.approx(metrics["auc"])
    assert served.embed([np.zeros((48, 48, 3), np.uint8)]).shape == (1, p.promote.embedding_components)
    bento = bentoml.models.get(f"{p.promote.bento_name}:latest")
    assert bento.info.metadata["release"] == served.tag
    assert bento.info.metadata["threshold"] == pytest.approx(served.threshold)
    assert {"data_version", "git_rev", "params", "metrics"} <= set(bento.info.metadata)
    assert (Path(bento.path) / "record.json").is_file() and (Path(bento.path) / "projection.npz").is_file()


def test_a_worse_model_is_not_promoted(promoted: Params):
    p = promoted
    before = load_predictor(p.promote.dir).tag
    _worse_model(p)
    run_evaluate(p)
    decision = promote_stage.run_promote(p)
    assert decision["promoted"] is False and "does not beat" in decision["reason"]
    assert decision["candidate_score"] == pytest.approx(0.5)
    assert decision["current_score"] > 0.9  # the served model re-scored on the same test split
    assert load_predictor(p.promote.dir).tag == before
    assert json.loads(p.promote.decision.read_text())["promoted"] is False


@pytest.mark.parametrize("crash_in", ["write_release", "save_to_bentoml", "swap_link"])
def test_interrupted_promote_leaves_the_previous_model_served(
    promoted: Params, monkeypatch: pytest.MonkeyPatch, crash_in: str
):
    p = promoted
    before = load_predictor(p.promote.dir).tag
    real = getattr(promote_stage, crash_in)

    def crash(*args, **kwargs):
        if crash_in == "write_release":  # die half-way: the copy is in its temporary folder
            real(*args, **kwargs)
            raise KeyboardInterrupt("power cut after the release was copied")
        raise KeyboardInterrupt(f"power cut in {crash_in}")

    monkeypatch.setattr(promote_stage, crash_in, crash)
    # make the candidate win, so that promote goes all the way to the crash
    monkeypatch.setattr(promote_stage, "is_better", lambda *a, **k: True)
    with pytest.raises(KeyboardInterrupt):
        promote_stage.run_promote(p)
    served = load_predictor(p.promote.dir)
    assert served.tag == before
    assert served.predict([np.zeros((48, 48, 3), np.uint8)]).shape == (1,)
    assert promote_stage.read_history(p.promote.releases_dir)[-1] == before


def test_rollback_serves_the_previous_release(promoted: Params, monkeypatch: pytest.MonkeyPatch):
    import bentoml

    p = promoted
    first = load_predictor(p.promote.dir).tag
    monkeypatch.setattr(promote_stage, "is_better", lambda *a, **k: True)
    second = promote_stage.run_promote(p)["tag"]
    assert second != first and load_predictor(p.promote.dir).tag == second
    result = promote_stage.run_rollback(p)
    assert result == {"rolled_back_from": second, "serving": first, "bento_tag": result["bento_tag"]}
    assert load_predictor(p.promote.dir).tag == first
    assert bentoml.models.get(f"{p.promote.bento_name}:latest").info.metadata["release"] == first
    with pytest.raises(promote_stage.PromoteError, match="nothing to roll back to"):
        promote_stage.run_rollback(p)


def test_evaluate_refuses_a_single_class_test_split(tmp_path: Path, make_params, make_split):
    manifest = make_split(tmp_path / "one", split_of_group=["train", "val", "test"])
    df = pd.read_csv(manifest)
    df = df[~((df["split"] == "test") & (df["label"] == "REAL"))]
    df.to_csv(manifest, index=False)
    p = make_params(tmp_path, manifest)
    run_train(p, "sklearn_fft")
    with pytest.raises(MetricsError, match=r"test split \(frames\).*only FAKE"):
        run_evaluate(p)


def test_promote_record_keeps_the_contract(promoted: Params):
    record = read_record(promoted.promote.dir)
    for key in (
        "name",
        "family",
        "artifact",
        "input_size",
        "threshold",
        "metrics",
        "params",
        "data_version",
        "git_rev",
        "created",
        "embedding_layer",
        "tag",
    ):
        assert key in record, key


def test_pick_best_follows_the_metric_direction_and_level():
    c = {
        "a": {"auc": 0.7, "log_loss": 0.5, "video": {"auc": 0.9}},
        "b": {"auc": 0.8, "log_loss": 0.6, "video": {"auc": 0.6}},
    }
    assert promote_stage.pick_best(c, "auc", "frame") == "b"
    assert promote_stage.pick_best(c, "log_loss", "frame") == "a"
    assert promote_stage.pick_best(c, "auc", "video") == "a"


def test_candidates_restrict_what_may_be_promoted(tmp_path: Path):
    for name, auc in (("xception", 0.6), ("sklearn_fft", 0.9)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"auc": auc}))
    base = {"train": {"models": ["xception", "sklearn_fft"]}, "evaluate": {"metrics_dir": str(tmp_path)}}
    everyone = promote_stage.read_candidates(Params.model_validate(base))
    assert promote_stage.pick_best(everyone, "auc", "frame") == "sklearn_fft"
    only = promote_stage.read_candidates(Params.model_validate({**base, "promote": {"candidates": ["xception"]}}))
    assert list(only) == ["xception"]
    with pytest.raises(promote_stage.PromoteError, match="baseline_cnn"):
        promote_stage.read_candidates(Params.model_validate({**base, "promote": {"candidates": ["baseline_cnn"]}}))
