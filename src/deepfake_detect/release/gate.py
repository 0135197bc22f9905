"""The release rule, one for the retrain DAG's evaluation gate and for the promote stage.

* **who competes**: ``promote.candidates``, or every model of ``train.models`` when it is empty;
* **how they rank**: ``promote.metric`` at ``promote.level`` of their :class:`contracts.metrics.ModelMetrics`
  (``metrics/<model>.json``; ``log_loss`` is lower-is-better);
* **the gate**: the best of them must reach ``retrain.gate_min`` before promote may run, so a
  broken retrain (bad data, diverged training) never reaches production;
* **no unlearning**: against the served model (re-scored by promote on the same split) the
  candidate may lose at most ``promote.max_regression`` of ``promote.metric`` on the old test split
  (rows not from the feedback source), whatever it gains on the feedback test split
  (:func:`old_split_regression`; evaluate writes both under ``by_source``).

The gate therefore judges exactly the model promote would pick.
"""

from __future__ import annotations

import logging

from deepfake_detect.config import Params
from deepfake_detect.contracts.base import ContractError
from deepfake_detect.contracts.decisions import GateDecision
from deepfake_detect.contracts.metrics import LOWER_IS_BETTER, MetricName, ModelMetrics
from deepfake_detect.data.manifest import FEEDBACK_SOURCE
from deepfake_detect.errors import DeepfakeError

log = logging.getLogger(__name__)


class CandidateError(DeepfakeError, RuntimeError):
    """A candidate cannot be judged: not a trained model, or no usable metrics (the message names the file)."""


class GateFailed(DeepfakeError, RuntimeError):
    """The best candidate misses the gate, or none can be judged (the message says which and why)."""

    exit_code = 1  # the model failed the gate (the retrain DAG's evaluation_gate task fails on it)


def candidate_names(p: Params) -> list[str]:
    """Models allowed to compete: ``promote.candidates``, or every model of ``train.models``."""
    names = p.promote.candidates or p.train.models
    unknown = sorted(set(names) - set(p.train.models))
    if unknown:
        raise CandidateError(f"promote.candidates: {', '.join(unknown)} not in train.models {p.train.models}")
    return list(names)


def read_candidates(p: Params) -> dict[str, ModelMetrics]:
    """Evaluated metrics of every candidate, checked to hold a finite ``promote.metric``."""
    out = {}
    for name in candidate_names(p):
        path = p.evaluate.metrics_dir / f"{name}.json"
        if not path.exists():
            raise CandidateError(f"{path}: no metrics for model {name!r} (run `deepfake evaluate` first)")
        try:
            out[name] = ModelMetrics.read(path)
            out[name].value(p.promote.metric, p.promote.level)
        except ContractError as exc:
            raise CandidateError(f"{exc} (promote.metric / promote.level; re-run `deepfake evaluate`)") from exc
    return out


def pick_best(candidates: dict[str, ModelMetrics], metric: MetricName, level: str) -> str:
    """Name of the best candidate by ``metric`` at ``level``, in the metric's direction."""
    pick = min if metric in LOWER_IS_BETTER else max
    return pick(candidates, key=lambda n: candidates[n].value(metric, level))


def passes(value: float, minimum: float, metric: str) -> bool:
    """Whether ``value`` reaches the gate bound (an upper bound for lower-is-better metrics)."""
    return value <= minimum if metric in LOWER_IS_BETTER else value >= minimum


def check_gate(p: Params, minimum: float | None = None) -> GateDecision:
    """Raise :class:`GateFailed` unless the candidate promote would pick reaches ``retrain.gate_min``
    (or ``minimum``); return what was decided."""
    minimum = p.retrain.gate_min if minimum is None else minimum
    metric, level = p.promote.metric, p.promote.level
    try:
        candidates = read_candidates(p)
    except CandidateError as exc:
        raise GateFailed(f"evaluation gate: {exc}") from exc
    name = pick_best(candidates, metric, level)
    value = candidates[name].value(metric, level)
    lower = metric in LOWER_IS_BETTER
    decision = GateDecision(
        model=name,
        candidates=list(candidates),
        metric=metric,
        level=level,
        value=value,
        minimum=minimum,
        lower_is_better=lower,
        passed=passes(value, minimum, metric),
    )
    if not decision.passed:
        raise GateFailed(
            f"evaluation gate: best candidate {name} (of {', '.join(candidates)}) has {level} {metric}={value:.4f}, "
            f"{'above the maximum' if lower else 'below the minimum'} {minimum} (retrain.gate_min)"
        )
    log.info("evaluation gate passed: %s %s=%.4f (minimum %s)", name, metric, value, minimum)
    return decision


def split_value(metrics: ModelMetrics, split: str, metric: MetricName) -> float | None:
    """``metric`` on the ``old`` or ``feedback`` test split (frame level), None when evaluate had none."""
    block = metrics.by_source.get(split)
    return None if block is None else block.value(metric)


def old_split_regression(candidate: ModelMetrics, served: ModelMetrics, p: Params) -> str | None:
    """Why ``candidate`` may not replace ``served``: it loses more than ``promote.max_regression`` of
    ``promote.metric`` on the old test split; None when it does not (or a side has no old split)."""
    metric, most = p.promote.metric, p.promote.max_regression
    new, old = split_value(candidate, "old", metric), split_value(served, "old", metric)
    if new is None or old is None:
        return None
    loss = new - old if metric in LOWER_IS_BETTER else old - new
    if loss <= most:
        return None
    return (
        f"on the old test split {metric}={new:.4f} against the served model's {old:.4f}: a loss of "
        f"{loss:.4f}, more than promote.max_regression {most}"
    )


def served_threshold(metrics: ModelMetrics, rule: str) -> float:
    """The threshold a release serves (``promote.serve_threshold``): the val faces' balanced-accuracy
    cut, or the cut that calls at most ``evaluate.target_video_fpr`` of the REAL val clips FAKE."""
    return metrics.video_operating_point.threshold if rule == "video_fpr" else metrics.threshold


def split_summary(metrics: ModelMetrics, metric: MetricName) -> str:
    """``old test split auc=0.91, feedback test split auc=0.88`` (the splits evaluate had)."""
    parts = [
        f"{split} test split {metric}={value:.4f}"
        for split in ("old", FEEDBACK_SOURCE)
        if (value := split_value(metrics, split, metric)) is not None
    ]
    return ", ".join(parts) or "no per-source test split"
