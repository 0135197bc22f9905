"""Model families: each module trains one family and writes a model folder that
:func:`deepfake_detect.models.predictor.load_predictor` can load.

:data:`REGISTRY` is the one list of families (name → how to train it, how its artifact loads): the
train stage dispatches through it, the config's ``train.models`` choice (:data:`config.ModelName`)
must name the same families (checked here, at import) and the CLI's help lists them. A family's
module is imported only when it trains (TensorFlow is heavy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from deepfake_detect.config import KerasTrainParams, ModelName, Params

if TYPE_CHECKING:
    import pandas as pd

    from deepfake_detect.contracts.base import ModelFamily
    from deepfake_detect.contracts.model import ModelRecord

Trainer = Callable[[Params, "pd.DataFrame", "pd.DataFrame", Path, Path], "ModelRecord"]


@dataclass(frozen=True)
class Family:
    name: ModelName
    artifact: ModelFamily  # how its artifact loads (record.json ``family``)
    train: Trainer  # (params, train split, val split, model folder, curves csv) → its record


def _fit_keras(
    fit: Callable[..., tuple],
    section: KerasTrainParams,
    p: Params,
    train: pd.DataFrame,
    val: pd.DataFrame,
    out: Path,
    curves: Path,
) -> ModelRecord:
    """A Keras family's ``train`` called with its own ``train.<family>`` section and the settings the
    Keras families share (augmentation, seed, distribution, crop cache)."""
    cfg = p.train
    return fit(
        train, val, section, cfg.augment, out, curves, seed=p.seed, distribute=cfg.distribute, cache_mb=cfg.cache_mb
    )[1]


def _baseline_cnn(p: Params, train: pd.DataFrame, val: pd.DataFrame, out: Path, curves: Path) -> ModelRecord:
    from deepfake_detect.models.baseline_cnn import train as fit

    return _fit_keras(fit, p.train.baseline_cnn, p, train, val, out, curves)


def _xception(p: Params, train: pd.DataFrame, val: pd.DataFrame, out: Path, curves: Path) -> ModelRecord:
    from deepfake_detect.models.xception import train as fit

    return _fit_keras(fit, p.train.xception, p, train, val, out, curves)


def _efficientnet_lite0(p: Params, train: pd.DataFrame, val: pd.DataFrame, out: Path, curves: Path) -> ModelRecord:
    from deepfake_detect.models.efficientnet_lite0 import train as fit

    return _fit_keras(fit, p.train.efficientnet_lite0, p, train, val, out, curves)


def _efficientnet_lite1(p: Params, train: pd.DataFrame, val: pd.DataFrame, out: Path, curves: Path) -> ModelRecord:
    from deepfake_detect.models.efficientnet_lite1 import train as fit

    return _fit_keras(fit, p.train.efficientnet_lite1, p, train, val, out, curves)


def _efficientnet_lite2(p: Params, train: pd.DataFrame, val: pd.DataFrame, out: Path, curves: Path) -> ModelRecord:
    from deepfake_detect.models.efficientnet_lite2 import train as fit

    return _fit_keras(fit, p.train.efficientnet_lite2, p, train, val, out, curves)


def _sklearn_fft(p: Params, train: pd.DataFrame, val: pd.DataFrame, out: Path, curves: Path) -> ModelRecord:
    from deepfake_detect.models.sklearn_fft import train as fit

    return fit(train, val, p.train.sklearn_fft, out, curves, seed=p.seed)[1]


def _ensemble(p: Params, train: pd.DataFrame, val: pd.DataFrame, out: Path, curves: Path) -> ModelRecord:
    from deepfake_detect.models.ensemble import train as fit

    return fit(train, val, p.train.ensemble, out, curves)


REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (
        Family("baseline_cnn", "keras", _baseline_cnn),
        Family("xception", "keras", _xception),
        Family("efficientnet_lite0", "keras", _efficientnet_lite0),
        Family("efficientnet_lite1", "keras", _efficientnet_lite1),
        Family("efficientnet_lite2", "keras", _efficientnet_lite2),
        Family("sklearn_fft", "sklearn", _sklearn_fft),
        Family("ensemble", "ensemble", _ensemble),  # train.ensemble.members, trained beside it
    )
}
FAMILIES = tuple(REGISTRY)
if set(FAMILIES) != set(get_args(ModelName)):  # pragma: no cover - a family added in one place only
    raise RuntimeError(f"models.REGISTRY {sorted(FAMILIES)} and config.ModelName {get_args(ModelName)} differ")
