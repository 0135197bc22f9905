"""Shadow scoring before promotion (``deepfake shadow``, and promote with ``promote.shadow``): what a
candidate would change on recent traffic, seen before it serves.

The review queue (``serve.review.dir``) keeps the face crops of requests of the last days; the items kept
in the last ``promote.shadow_days`` are re-scored by the candidate and by the served model
(``promote.dir``), each request scored as serving scores it (a clip: its fakest deciding person,
:func:`aggregate.people_scores`; an image: its fakest face) and judged at each model's own threshold.
The report (:class:`contracts.live.ShadowResult`, ``promote.shadow_report``) gives the share of requests
with the same verdict, every request whose verdict would flip (with the reviewer's label where there is
one), and both models' ``promote.metric`` on the labelled requests (accuracy when those hold one class
only). ``promote.shadow: gate`` refuses a candidate that loses more than ``promote.max_regression``
of it to the served model.

Reads the queue's folders directly (``<id>/item.json`` + JPEG crops): release code never imports the
serving side (:mod:`deepfake_detect.scoring`).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from deepfake_detect.config import Params
from deepfake_detect.contracts.base import ContractError
from deepfake_detect.contracts.live import ShadowItem, ShadowModel, ShadowResult
from deepfake_detect.contracts.metrics import LOWER_IS_BETTER, ModelMetrics
from deepfake_detect.contracts.review import ReviewItem
from deepfake_detect.media.images import ImageReadError, read_rgb
from deepfake_detect.models.aggregate import clip_probability, people_scores
from deepfake_detect.models.predictor import Predictor, load_predictor
from deepfake_detect.release.gate import served_threshold
from deepfake_detect.release.metrics import binary_metrics

log = logging.getLogger(__name__)
ITEM_FILE = "item.json"  # the review queue's (scoring.review.ITEM_FILE)


def kept_items(review_dir: Path, since: datetime) -> list[ReviewItem]:
    """The review queue's items kept at or after ``since``, oldest first (an unreadable one is skipped)."""
    items = []
    for path in sorted(Path(review_dir).glob(f"[!.]*/{ITEM_FILE}")) if Path(review_dir).is_dir() else []:
        try:
            item = ReviewItem.read(path)
        except ContractError as exc:
            log.warning("shadow: skipping %s", exc)
            continue
        if datetime.fromisoformat(item.time) >= since:
            items.append(item)
    return sorted(items, key=lambda i: i.time)


def request_score(probs: np.ndarray, item: ReviewItem, p: Params) -> float:
    """A request's P(FAKE) from its faces' as serving answers it: a clip by its fakest deciding person, an
    image by its fakest face."""
    if all(c.frame is None for c in item.crops):
        return float(np.max(probs))
    ev = p.evaluate
    people = people_scores(
        probs,
        np.array([c.person for c in item.crops]),
        np.array([c.frame or 0 for c in item.crops]),
        ev.clip,
        ev.video_aggregation,
        ev.person_min_share,
    )
    return clip_probability(people)


def as_released(predictor: Predictor, metrics: ModelMetrics, rule: str) -> Predictor:
    """A trained model as promote would release it: the threshold it would serve (``promote.serve_threshold``
    ``rule``) and the calibration evaluate fitted."""
    threshold = served_threshold(metrics, rule)
    record = predictor.record.model_copy(update={"threshold": threshold, "calibration": metrics.calibration})
    return dataclasses.replace(predictor, record=record)


def _side(model: Predictor, scores: np.ndarray, y: np.ndarray, labelled: np.ndarray, p: Params) -> ShadowModel:
    both = labelled.any() and 0 < y[labelled].sum() < labelled.sum()
    full = binary_metrics(y[labelled], scores[labelled], model.threshold, p.evaluate.clip, "shadow") if both else None
    if full is not None:
        value = full.value(p.promote.metric)
    elif labelled.any():
        value = float(np.mean((scores[labelled] >= model.threshold) == (y[labelled] == 1)))
    else:
        value = None
    return ShadowModel(tag=model.tag, threshold=model.threshold, value=value, labelled=full)


def _verdict(score: float | None, threshold: float | None) -> str | None:
    return None if score is None or threshold is None else ("FAKE" if score >= threshold else "REAL")


def shadow_score(
    p: Params, candidate: Predictor, served: Predictor | None, now: datetime | None = None
) -> ShadowResult:
    """Re-score the queue's recent items with both models and compare (nothing written)."""
    pp = p.promote
    start = (now or datetime.now(UTC)) - timedelta(days=pp.shadow_days)
    items: list[ReviewItem] = []
    scores: dict[str, list[float]] = {"candidate": [], "served": []}
    for item in kept_items(p.serve.review.dir, start):
        try:
            crops = [read_rgb(Path(p.serve.review.dir) / item.id / c.name) for c in item.crops]
        except ImageReadError as exc:  # pruned meanwhile, or a damaged crop: that request is left out
            log.warning("shadow: review item %s left out: %s", item.id, exc)
            continue
        items.append(item)
        scores["candidate"].append(request_score(candidate.predict(crops), item, p))
        if served is not None:
            scores["served"].append(request_score(served.predict(crops), item, p))
    cand, old = np.array(scores["candidate"]), np.array(scores["served"])
    y = np.array([i.label == "FAKE" for i in items], int)
    labelled = np.array([i.label is not None for i in items], bool)
    both = labelled.any() and 0 < y[labelled].sum() < labelled.sum()
    metric = pp.metric if both else "accuracy"
    new_side = _side(candidate, cand, y, labelled, p)
    old_side = _side(served, old, y, labelled, p) if served is not None else None
    shadow_items = [
        ShadowItem(
            id=item.id,
            request_id=item.request_id,
            file=item.file,
            time=item.time,
            label=item.label,
            served=float(old[k]) if served is not None else None,
            candidate=float(cand[k]),
            served_verdict=_verdict(float(old[k]), served.threshold) if served is not None else None,
            candidate_verdict=_verdict(float(cand[k]), candidate.threshold),
        )
        for k, item in enumerate(items)
    ]
    flips = [s for s in shadow_items if s.served_verdict is not None and s.served_verdict != s.candidate_verdict]
    agreement = 1 - len(flips) / len(items) if items and served is not None else None
    loss, passed, reason = _judge(new_side, old_side, metric, int(labelled.sum()), pp.max_regression)
    return ShadowResult(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        start=start.isoformat(timespec="seconds"),
        n_items=len(items),
        n_labelled=int(labelled.sum()),
        metric=metric,
        candidate=new_side,
        served=old_side,
        agreement=agreement,
        flips=flips,
        loss=loss,
        max_regression=pp.max_regression,
        passed=passed,
        reason=reason,
    )


def _judge(
    new: ShadowModel, old: ShadowModel | None, metric: str, n: int, most: float
) -> tuple[float | None, bool, str]:
    """(loss, passed, reason) of the candidate against the served model on the labelled items."""
    if old is None or new.value is None or old.value is None:
        why = "no model is served" if old is None else "no labelled item in the window"
        return None, True, f"nothing to compare on labelled items: {why}"
    loss = new.value - old.value if metric in LOWER_IS_BETTER else old.value - new.value
    figures = (
        f"candidate {new.tag} {metric}={new.value:.4f} against served {old.tag} {metric}={old.value:.4f} "
        f"on {n} labelled item(s) of the review queue"
    )
    if loss > most:
        return loss, False, f"{figures}: a loss of {loss:.4f}, more than promote.max_regression {most}"
    return loss, True, f"{figures}: within promote.max_regression {most}"


def run_shadow(p: Params, candidate_dir: Path, served_dir: Path | None = None) -> ShadowResult:
    """``deepfake shadow``: the candidate folder against the served model (``promote.dir``, or
    ``served_dir``); the report is written to ``promote.shadow_report``. A trained, not yet promoted
    folder with evaluate's metrics (``evaluate.metrics_dir/<name>.json``) is judged at their threshold
    and calibration, as promote would release it."""
    prior = p.serve.prior_fake
    candidate = load_predictor(candidate_dir, prior)
    evaluated = p.evaluate.metrics_dir / f"{candidate.name}.json"
    if candidate.record.tag is None and evaluated.is_file():  # a trained model: as promote would release it
        candidate = as_released(candidate, ModelMetrics.read(evaluated), p.promote.serve_threshold)
    served_dir = served_dir or p.promote.dir
    served = load_predictor(served_dir, prior) if Path(served_dir).exists() else None
    result = shadow_score(p, candidate, served)
    result.write(p.promote.shadow_report)
    return result
