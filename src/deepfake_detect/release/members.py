"""A promotion candidate as it will be released: a trained model folder, or an ensemble whose members
carry the calibration evaluate fitted for each of them on val (``metrics/<member>.json``), the
strongest first by the release rule's metric (``promote.metric`` at ``promote.level``): its embedding,
unfamiliar-media test, drift and Grad-CAM come from it."""

from __future__ import annotations

import dataclasses

from deepfake_detect.config import Params
from deepfake_detect.contracts.base import ContractError
from deepfake_detect.contracts.calibration import Calibration
from deepfake_detect.contracts.metrics import LOWER_IS_BETTER, ModelMetrics
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.models.predictor import EnsemblePredictor, Predictor, load_predictor


class MemberMetricsError(DeepfakeError, RuntimeError):
    """An ensemble member has no usable evaluate metrics (the message names the file)."""


def member_metrics(p: Params, ensemble: EnsemblePredictor) -> dict[str, ModelMetrics]:
    """Each member's ``metrics/<member>.json`` (evaluate writes one per model of ``train.models``)."""
    out = {}
    for m in ensemble.members:
        path = p.evaluate.metrics_dir / f"{m.name}.json"
        try:
            out[m.name] = ModelMetrics.read(path)
        except (OSError, ContractError) as exc:
            raise MemberMetricsError(
                f"{path}: metrics of ensemble member {m.name!r} unreadable ({exc}); run `deepfake evaluate`"
            ) from exc
    return out


def calibrated(
    ensemble: EnsemblePredictor, calibrations: dict[str, Calibration], order: list[str]
) -> EnsemblePredictor:
    """``ensemble`` with each member's calibration (what evaluate fitted on val) and its members in ``order``
    (the strongest first), as promote releases it."""
    by_name = {m.name: m for m in ensemble.members}
    members = [
        dataclasses.replace(by_name[n], record=by_name[n].record.model_copy(update={"calibration": calibrations[n]}))
        for n in order
    ]
    record = ensemble.record.model_copy(update={"members": list(order)})
    return dataclasses.replace(ensemble, record=record, members=members)


def load_candidate(p: Params, name: str) -> Predictor:
    """The trained model ``name`` (``train.models_dir``), an ensemble with its members calibrated and
    ranked for release (:func:`calibrated`)."""
    predictor = load_predictor(p.train.models_dir / name)
    if not isinstance(predictor, EnsemblePredictor):
        return predictor
    metrics = member_metrics(p, predictor)
    sign = 1.0 if p.promote.metric in LOWER_IS_BETTER else -1.0
    order = sorted(metrics, key=lambda m: sign * metrics[m].value(p.promote.metric, p.promote.level))
    return calibrated(predictor, {m: metrics[m].calibration for m in metrics}, order)
