"""Stage ``promote``: the best evaluated model becomes the served one, only if it beats the model
served now, re-scored on the same validation/test split.

Layout (paths from params): every promoted model is a release folder
``<releases_dir>/<tag>/`` (model folder + ``projection.npz``), ``<promote.dir>`` is a symlink to
the served release, and ``<releases_dir>/history.json`` lists promoted tags in order. A release
is written completely under a temporary name and renamed; the symlink is swapped with one
``os.replace``; so a crash at any point leaves the previous model served. ``--rollback`` points the
symlink back at the release served before. Each promotion (and rollback) is also saved in the
BentoML model store as ``promote.bento_name`` with threshold, metrics, params, data version and
git revision in its metadata.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Params
from ..metrics import LOWER_IS_BETTER, is_better
from ..models.artifacts import data_version, git_rev
from ..models.dataset import load_split
from ..predictor import PROJECTION_FILE, RECORD_FILE, ModelLoadError, Predictor, load_predictor, read_record
from .evaluate import evaluate_probs, score_split

log = logging.getLogger(__name__)
HISTORY_FILE = "history.json"


class PromoteError(RuntimeError):
    """Nothing to promote or roll back to (the message says why)."""


def metric_value(metrics: dict[str, Any], metric: str, level: str) -> float:
    block = metrics["video"] if level == "video" else metrics
    return float(block[metric])


def read_candidates(p: Params) -> dict[str, dict[str, Any]]:
    """Evaluated metrics of every model allowed to compete (``promote.candidates``, or all trained)."""
    names = p.promote.candidates or p.train.models
    unknown = sorted(set(names) - set(p.train.models))
    if unknown:
        raise PromoteError(f"promote.candidates: {', '.join(unknown)} not in train.models {p.train.models}")
    out = {}
    for name in names:
        path = p.evaluate.metrics_dir / f"{name}.json"
        if not path.exists():
            raise PromoteError(f"{path}: no metrics for model {name!r} (run `deepfake evaluate` first)")
        out[name] = json.loads(path.read_text())
    return out


def pick_best(candidates: dict[str, dict[str, Any]], metric: str, level: str) -> str:
    pick = min if metric in LOWER_IS_BETTER else max
    return pick(candidates, key=lambda n: metric_value(candidates[n], metric, level))


def current_release(p: Params) -> Path | None:
    link = p.promote.dir
    if not link.exists():
        return None
    return link.resolve()


def rescore(predictor: Predictor, p: Params) -> dict[str, Any]:
    """Metrics of a (promoted) model on the current val/test split, as evaluate computes them."""
    val = load_split(p.balance.manifest, "val")
    test = load_split(p.balance.manifest, "test")
    val_p = score_split({"m": predictor}, val, p.evaluate.batch_size, "val")["m"]
    test_p = score_split({"m": predictor}, test, p.evaluate.batch_size, "test")["m"]
    return evaluate_probs(val, val_p, test, test_p, p.evaluate)


def fit_projection(predictor: Predictor, p: Params) -> dict[str, np.ndarray]:
    """PCA (via SVD) of pooled features of up to ``embedding_samples`` distinct training crops."""
    from ..imagestats import read_rgb

    train = load_split(p.balance.manifest, "train").drop_duplicates("path")
    n = min(len(train), p.promote.embedding_samples)
    rows = train.sample(n, random_state=p.seed)["path"].tolist()
    feats = np.concatenate(
        [predictor.pooled_features([read_rgb(x) for x in rows[i : i + 64]]) for i in range(0, len(rows), 64)]
    ).astype(np.float64)
    mean = feats.mean(axis=0)
    _, _, vt = np.linalg.svd(feats - mean, full_matrices=False)
    k = min(p.promote.embedding_components, vt.shape[0])
    return {"mean": mean.astype(np.float32), "components": vt[:k].astype(np.float32)}


def read_history(releases: Path) -> list[str]:
    path = releases / HISTORY_FILE
    return json.loads(path.read_text()) if path.exists() else []


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    tmp.replace(path)


def swap_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old one)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():  # a plain folder from an older layout: keep it as a release
        legacy = target.parent / f"legacy-{time.strftime('%Y%m%dT%H%M%S')}"
        link.rename(legacy)
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, link.parent))
    os.replace(tmp, link)


def write_release(
    src: Path, releases: Path, tag: str, record: dict[str, Any], projection: dict[str, np.ndarray] | None
) -> Path:
    """Copy a model folder into ``releases/<tag>`` with its final record, via a temporary folder."""
    final = releases / tag
    tmp = releases / f".{tag}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    if projection is not None:
        np.savez(tmp / PROJECTION_FILE, **projection)
    (tmp / RECORD_FILE).write_text(json.dumps(record, indent=2, default=str))
    tmp.rename(final)
    return final


def save_to_bentoml(release: Path, name: str) -> str:
    """Save a release folder's files as a new version of BentoML model ``name``; returns its tag."""
    import bentoml

    record = read_record(release)
    metadata = {
        "threshold": float(record["threshold"]),
        "metrics": {
            k: record["metrics"][k]
            for k in ("auc", "log_loss", "balanced_accuracy", "accuracy", "precision", "recall", "f1")
        },
        "video_metrics": {k: v for k, v in record["metrics"].get("video", {}).items() if isinstance(v, float)},
        "params": json.dumps(record.get("params", {})),
        "data_version": str(record.get("data_version")),
        "git_rev": str(record.get("git_rev")),
        "family": record["family"],
        "model": record["name"],
        "release": record["tag"],
        "input_size": int(record["input_size"]),
    }
    with bentoml.models.create(
        name, labels={"family": record["family"], "model": record["name"]}, metadata=metadata
    ) as bento_model:
        for item in release.iterdir():
            if item.is_file():
                shutil.copy2(item, bento_model.path_of(item.name))
    log.info("saved %s into the BentoML model store as %s", release.name, bento_model.tag)
    return str(bento_model.tag)


def release_tag(model: str, releases: Path) -> str:
    """``<model>-<UTC time>``, with a counter when that release already exists."""
    base = f"{model}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    tag, n = base, 1
    while (releases / tag).exists():
        n += 1
        tag = f"{base}-{n}"
    return tag


def run_promote(p: Params) -> dict[str, Any]:
    """Promote the best candidate if it beats the served model; write the decision file."""
    pp = p.promote
    candidates = read_candidates(p)
    best = pick_best(candidates, pp.metric, pp.level)
    cand_metrics = candidates[best]
    cand_score = metric_value(cand_metrics, pp.metric, pp.level)
    decision: dict[str, Any] = {
        "metric": pp.metric,
        "level": pp.level,
        "candidate": best,
        "candidate_score": cand_score,
        "current": None,
        "current_score": None,
    }
    current = current_release(p)
    if current is not None:
        try:
            served = load_predictor(current)
        except ModelLoadError as exc:
            log.warning("served model %s cannot be loaded (%s): any candidate replaces it", current, exc)
        else:
            cur_score = metric_value(rescore(served, p), pp.metric, pp.level)
            decision.update(current=served.tag, current_score=cur_score)
            if not is_better(cand_score, cur_score, pp.metric, pp.min_improvement):
                decision.update(
                    promoted=False,
                    reason=f"{best} {pp.metric}={cand_score:.4f} does not beat served "
                    f"{served.tag} {pp.metric}={cur_score:.4f} on the same test split",
                )
                log.info(decision["reason"])
                write_json_atomic(pp.decision, decision)
                return decision
    src = p.train.models_dir / best
    predictor = load_predictor(src)
    tag = release_tag(best, pp.releases_dir)
    record = {
        **predictor.record,
        "tag": tag,
        "threshold": cand_metrics["threshold"],
        "metrics": cand_metrics,
        "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data_version": data_version(),
        "promote_git_rev": git_rev(),
        "embedding_layer": predictor.record.get("embedding_layer", "pooled"),
    }
    releases = pp.releases_dir
    releases.mkdir(parents=True, exist_ok=True)
    release = write_release(src, releases, tag, record, fit_projection(predictor, p))
    decision["bento_tag"] = save_to_bentoml(release, pp.bento_name)
    swap_link(pp.dir, release)
    history = [t for t in read_history(releases) if t != tag] + [tag]
    write_json_atomic(releases / HISTORY_FILE, history)
    decision.update(
        promoted=True,
        tag=tag,
        reason=f"{best} {pp.metric}={cand_score:.4f} beats "
        + (
            f"served {decision['current']} ({decision['current_score']:.4f})"
            if decision["current"]
            else "nothing (no model was served)"
        ),
    )
    log.info("promoted %s: %s", tag, decision["reason"])
    write_json_atomic(pp.decision, decision)
    return decision


def run_rollback(p: Params) -> dict[str, Any]:
    """Serve the release promoted before the current one again (and save it to BentoML as latest)."""
    pp = p.promote
    releases = pp.releases_dir
    history = read_history(releases)
    current = current_release(p)
    cur_tag = current.name if current is not None else None
    before = history[: history.index(cur_tag)] if cur_tag in history else [t for t in history if t != cur_tag]
    before = [t for t in before if (releases / t / RECORD_FILE).exists()]
    if not before:
        raise PromoteError(
            f"nothing to roll back to: {releases / HISTORY_FILE} lists no release before "
            f"{cur_tag or 'the current state'}"
        )
    target = releases / before[-1]
    bento_tag = save_to_bentoml(target, pp.bento_name)
    swap_link(pp.dir, target)
    write_json_atomic(releases / HISTORY_FILE, [*before])
    log.info("rolled back from %s to %s", cur_tag, target.name)
    return {"rolled_back_from": cur_tag, "serving": target.name, "bento_tag": bento_tag}
