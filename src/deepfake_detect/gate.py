"""The retrain DAG's evaluation gate: the best evaluated model must reach a minimum score before
promote may run, so a broken retrain (bad data, diverged training) never reaches production.

Reads ``metrics/<model>.json`` as the evaluate stage writes them (``promote.metric`` at the top
level for frame metrics, under ``video`` for video metrics; ``log_loss`` is lower-is-better).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)
LOWER_IS_BETTER = {"log_loss"}


class GateFailed(RuntimeError):
    """No evaluated model reaches the gate (the message says which metric, value and minimum)."""


def best_model(metrics_dir: str | Path, metric: str, level: str = "frame") -> tuple[str, float]:
    """(model name, value) of the best model by ``metric`` among ``metrics_dir/*.json``."""
    metrics_dir = Path(metrics_dir)
    scores: dict[str, float] = {}
    for path in sorted(metrics_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise GateFailed(f"{path}: not valid JSON ({exc})") from exc
        block = data.get("video", {}) if level == "video" else data
        if not isinstance(block, dict) or metric not in block:
            continue  # not a per-model metrics file (e.g. promotion.json)
        value = block[metric]
        if isinstance(value, int | float) and math.isfinite(value):
            scores[path.stem] = float(value)
    if not scores:
        raise GateFailed(f"{metrics_dir}: no metrics file holds {level} metric {metric!r} (did evaluate run?)")
    pick = min if metric in LOWER_IS_BETTER else max
    name = pick(scores, key=scores.__getitem__)
    return name, scores[name]


def check_gate(metrics_dir: str | Path, metric: str, minimum: float, level: str = "frame") -> dict:
    """Raise :class:`GateFailed` unless the best model passes; return what was decided."""
    name, value = best_model(metrics_dir, metric, level)
    lower = metric in LOWER_IS_BETTER
    passed = value <= minimum if lower else value >= minimum
    decision = {"model": name, "metric": metric, "level": level, "value": value, "minimum": minimum,
                "lower_is_better": lower, "passed": passed}
    if not passed:
        raise GateFailed(f"evaluation gate: best model {name} has {level} {metric}={value:.4f}, "
                         f"{'above the maximum' if lower else 'below the minimum'} {minimum} (retrain.gate_min)")
    log.info("evaluation gate passed: %s %s=%.4f (minimum %s)", name, metric, value, minimum)
    return decision
