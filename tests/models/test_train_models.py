"""Each family trains a few steps on tiny data, and its saved folder reloads with identical outputs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from deepfake_detect.media.images import read_rgb, resize_batch
from deepfake_detect.models import (
    baseline_cnn,
    efficientnet_lite0,
    efficientnet_lite1,
    efficientnet_lite2,
    sklearn_fft,
    xception,
)
from deepfake_detect.models.combine import mean_logit
from deepfake_detect.models.dataset import load_split
from deepfake_detect.models.features import crop_features
from deepfake_detect.models.gradcam import GradCam
from deepfake_detect.models.predictor import load_predictor


def _crops(manifest: Path, split: str = "test") -> list[np.ndarray]:
    return [read_rgb(p) for p in load_split(manifest, split)["path"]]


LITE = {
    "efficientnet_lite0": efficientnet_lite0,
    "efficientnet_lite1": efficientnet_lite1,
    "efficientnet_lite2": efficientnet_lite2,
}


@pytest.mark.parametrize("family", ["baseline_cnn", "xception", *LITE])
def test_keras_family_trains_and_reloads_identically(family: str, split_manifest: Path, tmp_path: Path, make_params):
    p = make_params(tmp_path, split_manifest)
    train, val = load_split(split_manifest, "train"), load_split(split_manifest, "val")
    out, curves = tmp_path / family, tmp_path / f"{family}.csv"
    module = {"baseline_cnn": baseline_cnn, "xception": xception, **LITE}[family]
    model, record = module.train(train, val, getattr(p.train, family), p.train.augment, out, curves, seed=p.seed)
    assert record.family == "keras" and (out / "model.keras").is_file()
    assert curves.read_text().startswith("epoch,phase")
    crops = _crops(split_manifest)
    pred = load_predictor(out)
    batch = resize_batch(crops, record.input_size)
    assert record.test_time_flip == getattr(p.train, family).test_time_flip
    views = [batch, batch[:, :, ::-1]] if record.test_time_flip else [batch]  # face + mirror, as recorded
    before = mean_logit([np.asarray(model.predict_on_batch(v)).reshape(-1) for v in views])
    np.testing.assert_allclose(pred.predict(crops), before, rtol=1e-5, atol=1e-6)
    assert ((pred.predict(crops) >= 0) & (pred.predict(crops) <= 1)).all()
    assert pred.pooled_features(crops[:3]).shape[0] == 3
    assert model.get_layer("pooled") is not None
    if family == "xception":  # phase 2 unfroze the base from the configured layer on
        base, cut = model.get_layer("xception"), p.train.xception.unfreeze_from
        assert not any(layer.trainable for layer in base.layers[:cut])
        assert any(layer.trainable for layer in base.layers[cut:])
        assert curves.read_text().count("fine_tune") == p.train.xception.fine_tune_epochs
        assert record.pretrained == "none"
    if family in LITE:  # warm-up then the whole network, batch norm kept frozen
        assert curves.read_text().count("head_warmup") == 1 and record.pretrained == "imagenet"
        assert record.name == family and record.input_size == p.train.model_dump()[family]["input_size"]
        base = model.get_layer(family)
        assert base.count_params() == LITE[family].build(getattr(p.train, family))[1].count_params()
        assert base.trainable and not any(layer.trainable for layer in base.layers if "_bn" in layer.name)
        # the stem and the first freeze_blocks blocks keep their ImageNet weights; every later block learned
        cut = getattr(p.train, family).freeze_blocks
        imagenet = LITE[family].build(getattr(p.train, family))[1]
        for layer in (layer for layer in base.layers if layer.weights and "_bn" not in layer.name):
            start = imagenet.get_layer(layer.name).get_weights()
            kept = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), start, strict=True))
            block = re.match(r"block(\d+)_", layer.name)
            frozen = cut > 0 and (layer.name.startswith("stem_") or (block is not None and int(block.group(1)) < cut))
            assert kept == frozen and layer.trainable != frozen, (layer.name, cut)
        cams, probs = GradCam(pred.model, pred.input_size).heatmaps(crops[:2])
        one_pass = np.asarray(model.predict_on_batch(batch[:2])).reshape(-1)  # Grad-CAM explains the face itself
        assert cams.shape[0] == 2 and cams.max() <= 1 and np.allclose(probs, one_pass, atol=1e-5)


def test_imagenet_without_network_or_cache_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    try:
        xception.resolve_weights("imagenet", timeout=3)
    except xception.WeightsUnavailable as exc:
        msg = str(exc)
        assert xception.WEIGHTS_FILE in msg and str(tmp_path / "keras" / "models") in msg
        assert "pretrained: none" in msg
        assert xception.resolve_weights("auto", timeout=3) is None  # auto: train from scratch, say so
    else:
        pytest.skip("storage.googleapis.com is reachable here: the offline message cannot be exercised")
    cached = tmp_path / "keras" / "models" / xception.WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert xception.resolve_weights("imagenet") == str(cached)
    assert xception.resolve_weights("auto") == str(cached)
    assert xception.resolve_weights("none") is None


@pytest.mark.parametrize("classifier", ["logreg", "gboost"])
def test_sklearn_fft_learns_the_tiny_task_and_reloads_identically(
    classifier: str, split_manifest: Path, tmp_path: Path, make_params
):
    p = make_params(tmp_path, split_manifest)
    cfg = p.train.sklearn_fft.model_copy(update={"classifier": classifier, "n_estimators": 20})
    train, val = load_split(split_manifest, "train"), load_split(split_manifest, "val")
    model, record = sklearn_fft.train(train, val, cfg, tmp_path / "s", tmp_path / "s.csv", seed=p.seed)
    crops = _crops(split_manifest)
    pred = load_predictor(tmp_path / "s")
    np.testing.assert_array_equal(
        pred.predict(crops), model.predict_proba(crop_features(crops))[:, 1].astype(np.float32)
    )
    y = load_split(split_manifest, "test")["y"].to_numpy()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, pred.predict(crops)) > 0.9  # the fixture's FAKEs carry a high-frequency patch
    assert record.n_features == crop_features(crops[:1]).shape[1]


def test_crop_features_reject_non_rgb_input():
    with pytest.raises(ValueError, match="crop 1 has shape"):
        crop_features([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])


def test_one_registry_names_every_family_for_config_train_and_cli():
    """The registry, the config's choice of models and the CLI's help name the same families."""
    from typing import get_args

    from typer.testing import CliRunner

    from deepfake_detect.cli.main import app
    from deepfake_detect.config import ModelName
    from deepfake_detect.models import FAMILIES, REGISTRY

    assert set(FAMILIES) == set(REGISTRY) == set(get_args(ModelName))
    assert {f.artifact for f in REGISTRY.values()} == {"keras", "sklearn", "ensemble"}
    helped = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    assert all(name in helped for name in FAMILIES), helped


def test_freezing_more_blocks_than_the_network_has_names_the_setting(split_manifest: Path, tmp_path: Path, make_params):
    from deepfake_detect.config import ConfigError

    p = make_params(tmp_path, split_manifest)
    cfg = p.train.efficientnet_lite0.model_copy(update={"freeze_blocks": 17})
    train = load_split(split_manifest, "train")
    with pytest.raises(ConfigError, match=r"train\.efficientnet_lite0\.freeze_blocks = 17: .* has 16 blocks"):
        efficientnet_lite0.train(train, train, cfg, p.train.augment, tmp_path / "m", tmp_path / "c.csv", seed=p.seed)


def test_weight_averaging_keeps_the_fine_tune_at_its_moving_average(split_manifest: Path, tmp_path: Path, make_params):
    """``ema_momentum`` near 1: the fine-tune's moving average barely leaves where it started, so every layer of
    the base keeps its ImageNet weights (the warm-up trained the head only); without it they move (the test above)."""
    p = make_params(tmp_path, split_manifest)
    cfg = p.train.efficientnet_lite0.model_copy(update={"ema_momentum": 0.999999, "freeze_blocks": 0})
    train, val = load_split(split_manifest, "train"), load_split(split_manifest, "val")
    out, curves = tmp_path / "m", tmp_path / "c.csv"
    model, _ = efficientnet_lite0.train(train, val, cfg, p.train.augment, out, curves, seed=p.seed)
    imagenet = efficientnet_lite0.build(cfg)[1]
    base = model.get_layer("efficientnet_lite0")
    for layer in (layer for layer in base.layers if layer.weights):
        for got, start in zip(layer.get_weights(), imagenet.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_allclose(got, start, atol=1e-4, err_msg=layer.name)
    assert model.optimizer.use_ema
    with pytest.raises(Exception, match="ema_momentum"):
        type(cfg).model_validate({**cfg.model_dump(), "ema_momentum": 1.0})
