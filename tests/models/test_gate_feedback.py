"""The release rule judges a candidate on the old test split and on the feedback test split (rows
whose manifest source is ``feedback``): learning a new technique from labelled review crops must not
cost more than ``promote.max_regression`` on what the served model already did well."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from deepfake_detect.contracts.metrics import ModelMetrics
from deepfake_detect.pipeline import promote as promote_stage
from deepfake_detect.pipeline.evaluate import run_evaluate
from deepfake_detect.pipeline.train import run_train
from deepfake_detect.release.gate import old_split_regression

FEEDBACK_GROUPS = {"real05.mp4", "real10.mp4", "real11.mp4"}  # one train group, two of the three test groups


def _with_feedback(manifest: Path) -> Path:
    df = pd.read_csv(manifest)
    df.loc[df["group"].isin(FEEDBACK_GROUPS), "source"] = "feedback"
    df.to_csv(manifest, index=False)
    return manifest


def _metrics(p, name: str = "sklearn_fft") -> ModelMetrics:
    return ModelMetrics.read(p.evaluate.metrics_dir / f"{name}.json")


@pytest.fixture
def feedback_params(split_manifest: Path, tmp_path: Path, make_params, bento_home: Path):
    p = make_params(tmp_path, _with_feedback(split_manifest))
    run_train(p, "sklearn_fft")
    return p


def test_evaluate_scores_the_old_and_the_feedback_test_split_apart(feedback_params):
    p = feedback_params
    run_evaluate(p)
    by_source = _metrics(p).by_source
    assert by_source["old"].n == 8 and by_source["feedback"].n == 16  # 4 crops x REAL + FAKE per group
    assert by_source["old"].n_fake == 4 and by_source["feedback"].n_fake == 8
    assert 0 <= by_source["old"].auc <= 1 and 0 <= by_source["feedback"].auc <= 1


def test_a_candidate_that_loses_more_than_max_regression_on_the_old_split_is_refused(feedback_params, uninformed_model):
    p = feedback_params
    run_evaluate(p)
    good = _metrics(p)
    uninformed_model(p)  # a real, uninformed model: AUC 0.5 on the old split
    run_evaluate(p)
    worse = _metrics(p)
    assert good.by_source["old"].auc - worse.by_source["old"].auc > p.promote.max_regression
    why = old_split_regression(worse, good, p)
    assert why is not None and "old test split" in why and "promote.max_regression" in why
    assert old_split_regression(good, good, p) is None  # no loss at all
    assert old_split_regression(good, worse, p) is None  # a gain on the old split
    lower = p.model_copy(update={"promote": p.promote.model_copy(update={"metric": "log_loss"})})
    assert old_split_regression(worse, good, lower) is not None  # log loss rises: a loss too


def test_promote_weighs_the_old_split_against_the_served_model(feedback_params, uninformed_model, tmp_path):
    p = feedback_params
    trained = tmp_path / "trained-copy"
    shutil.copytree(p.train.models_dir / "sklearn_fft", trained)
    uninformed_model(p)
    run_evaluate(p)
    assert promote_stage.run_promote(p).promoted  # the uninformed model is served first
    shutil.rmtree(p.train.models_dir / "sklearn_fft")
    shutil.copytree(trained, p.train.models_dir / "sklearn_fft")
    run_evaluate(p)
    decision = promote_stage.run_promote(p)
    assert decision.promoted and "old test split" in decision.reason and "feedback test split" in decision.reason
