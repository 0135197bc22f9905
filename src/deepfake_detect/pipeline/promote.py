"""Stage ``promote``: the best evaluated model becomes the served one, only if it beats the model
served now, re-scored on the same validation/test split.

Layout (paths from params): every promoted model is a release folder
``<releases_dir>/<tag>/`` (model folder + ``projection.npz``), ``<promote.dir>`` is a symlink to
the served release, and ``<releases_dir>/history.json`` lists promoted tags in order. With
``promote.shadow`` report or gate, the candidate first re-scores the review queue's recent crops beside
the served model (:mod:`deepfake_detect.release.shadow`, ``promote.shadow_report``); gate refuses one
that loses more than ``promote.max_regression`` on the reviewers' labelled items. Each
promotion (and rollback) is also saved in the BentoML model store as ``promote.bento_name`` with
threshold, metrics, params, data version and git revision in its metadata: that store entry is
what serving loads (``serve.model_tag``).

Crash safety: a release is written completely under a temporary name and renamed; then the symlink
is swapped (one ``os.replace``), the history written, and **the store written last**: it is the
commit point. Until it is written the previous release is still the one served, and a failure
puts the symlink and history back to the store's release (:func:`reconcile`); a process killed
between the steps is repaired the same way when promote or ``--rollback`` next runs, so the three
always agree and ``--rollback`` goes back exactly one release from the one served. Promote, rollback and
:func:`publish` hold the releases folder's file lock (:func:`deepfake_detect.files.locked`) and write
every temp file, folder and symlink under a name of its own, so two of them at once never collide.

One module on purpose, past the ~300-line guide: promotion and rollback share the crash-safe release
swap, its repair and its lock, and a reader checks their safety in one place.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfake_detect.config import Params
from deepfake_detect.contracts.decisions import PromotionDecision, RollbackResult
from deepfake_detect.contracts.metrics import ModelMetrics
from deepfake_detect.contracts.model import PROJECTION_FILE, RECORD_FILE, BentoMetadata, ModelRecord
from deepfake_detect.contracts.unfamiliar import CompressionFit, OodFit
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.files import locked, temp_name, write_text_atomic
from deepfake_detect.models.artifacts import data_version, git_rev
from deepfake_detect.models.dataset import load_split, mixed_size
from deepfake_detect.models.predictor import ModelLoadError, Predictor, load_predictor, read_record
from deepfake_detect.pipeline.evaluate import evaluate_probs, score_split
from deepfake_detect.release.gate import (
    old_split_regression,
    pick_best,
    read_candidates,
    served_threshold,
    split_summary,
)
from deepfake_detect.release.members import load_candidate
from deepfake_detect.release.metrics import is_better
from deepfake_detect.release.ood import fit_clip_compression, fit_embedding
from deepfake_detect.release.shadow import as_released, shadow_score

log = logging.getLogger(__name__)
HISTORY_FILE = "history.json"


class PromoteError(DeepfakeError, RuntimeError):
    """Nothing to promote or roll back to (the message says why)."""


def current_release(p: Params) -> Path | None:
    link = p.promote.dir
    if not link.exists():
        return None
    return link.resolve()


def rescore(predictor: Predictor, p: Params) -> ModelMetrics:
    """Metrics of a (promoted) model on the current val/test split, as evaluate computes them."""
    val = load_split(p.balance.manifest, "val")
    test = load_split(p.balance.manifest, "test")
    val_p = score_split({"m": predictor}, val, p.evaluate.batch_size, "val").probs["m"]
    test_p = score_split({"m": predictor}, test, p.evaluate.batch_size, "test").probs["m"]
    return evaluate_probs(predictor.record, val, val_p, test, test_p, p.evaluate, p.seed)


def sample_paths(rows: pd.DataFrame, n: int, seed: int, min_dataset_share: float = 0.0) -> list[str]:
    """Up to ``n`` distinct crop paths of ``rows``, drawn with ``seed``; with ``min_dataset_share``,
    each dataset (manifest ``dataset``) holds at least that share of them where it has the crops, as
    training's epochs hold it (``train.augment.min_dataset_share``), the largest giving way."""
    rows = rows.drop_duplicates("path")
    n = min(len(rows), n)
    if min_dataset_share <= 0 or "dataset" not in rows or rows["dataset"].nunique() < 2:
        return rows.sample(n, random_state=seed)["path"].tolist()
    sizes = rows["dataset"].value_counts()  # largest first
    # each dataset's proportional share, raised as training's epochs raise it (mix_datasets)
    want = {d: min(size, mixed_size(round(n * size / len(rows)), n, min_dataset_share)) for d, size in sizes.items()}
    largest = sizes.index[0]
    want[largest] = min(sizes[largest], n - sum(k for d, k in want.items() if d != largest))
    drawn = [rows[rows["dataset"] == d].sample(k, random_state=seed) for d, k in want.items()]
    return pd.concat(drawn)["path"].tolist()


def pooled_features(predictor: Predictor, paths: list[str], batch_size: int) -> np.ndarray:
    """Pooled features (float64) of the crops at ``paths``, read a batch at a time."""
    from deepfake_detect.media.images import read_rgb

    batches = (paths[i : i + batch_size] for i in range(0, len(paths), batch_size))
    return np.concatenate([predictor.pooled_features([read_rgb(x) for x in b]) for b in batches]).astype(np.float64)


def pooled_sample(predictor: Predictor, p: Params, split: str) -> np.ndarray:
    """Pooled features of up to ``promote.embedding_samples`` distinct crops of ``split`` (seeded), each
    dataset at least ``train.augment.min_dataset_share`` of them: the mix the model trained on."""
    rows = load_split(p.balance.manifest, split)
    paths = sample_paths(rows, p.promote.embedding_samples, p.seed, p.train.augment.min_dataset_share)
    return pooled_features(predictor, paths, p.evaluate.batch_size)


def fit_projection(predictor: Predictor, p: Params) -> tuple[dict[str, np.ndarray], OodFit]:
    """The served embedding and the unfamiliar-media test (:func:`ood.fit_embedding`), fitted on
    pooled features of training crops with the test's threshold from val crops."""
    train, val = pooled_sample(predictor, p, "train"), pooled_sample(predictor, p, "val")
    return fit_embedding(train, val, p.promote.embedding_components, p.promote.ood_quantile)


def read_history(releases: Path) -> list[str]:
    path = releases / HISTORY_FILE
    return json.loads(path.read_text()) if path.exists() else []


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, default=str))


def swap_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (a new symlink renamed over the old one)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():  # a plain folder from an older layout: keep it as a release
        legacy = target.parent / f"legacy-{time.strftime('%Y%m%dT%H%M%S')}"
        link.rename(legacy)
    tmp = temp_name(link)  # a name of its own: another promote's temp link is never ours to replace
    tmp.symlink_to(os.path.relpath(target, link.parent))
    try:
        os.replace(tmp, link)
    finally:
        tmp.unlink(missing_ok=True)


def write_release(
    predictor: Predictor, releases: Path, tag: str, record: ModelRecord, projection: dict[str, np.ndarray] | None
) -> Path:
    """Copy a model folder (an ensemble's with its members) into ``releases/<tag>`` with its final record,
    via a temporary folder."""
    final = releases / tag
    tmp = temp_name(final)
    try:
        predictor.copy_to(tmp)
        if projection is not None:
            np.savez(tmp / PROJECTION_FILE, **projection)
        record.write(tmp / RECORD_FILE)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename happened
    return final


def save_to_bentoml(release: Path, name: str) -> str:
    """Save a release folder's files as a new version of BentoML model ``name``; returns its tag."""
    import bentoml

    record = read_record(release)
    metadata = BentoMetadata.from_record(record).model_dump()
    with bentoml.models.create(
        name, labels={"family": record.family, "model": record.name}, metadata=metadata
    ) as bento_model:
        for item in release.iterdir():
            if item.is_file():
                shutil.copy2(item, bento_model.path_of(item.name))
            elif item.is_dir():  # an ensemble's members
                shutil.copytree(item, bento_model.path_of(item.name))
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


def served_metrics(p: Params) -> tuple[str, ModelMetrics] | None:
    """(tag, metrics) of the served model re-scored on the current split as evaluate scores (the old
    and the feedback test split too); None when none is served or it cannot be loaded (then any
    candidate replaces it)."""
    current = current_release(p)
    if current is None:
        return None
    try:
        served = load_predictor(current)
    except ModelLoadError as exc:
        log.warning("served model %s cannot be loaded (%s): any candidate replaces it", current, exc)
        return None
    return served.tag, rescore(served, p)


def release_record(
    p: Params,
    predictor: Predictor,
    tag: str,
    metrics: ModelMetrics,
    ood: OodFit | None,
    compression: CompressionFit | None,
) -> ModelRecord:
    """The trained record completed with what evaluate found (threshold and calibration fitted on val)
    and the unfamiliar-media tests fitted here."""
    return predictor.record.model_copy(
        update={
            "tag": tag,
            "threshold": served_threshold(metrics, p.promote.serve_threshold),
            "calibration": metrics.calibration,  # Predictor applies it
            "operating_point": metrics.operating_point,
            "metrics": metrics,
            "ood": ood,
            "compression": compression,
            "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "data_version": data_version(p.data.raw_dir),  # the data the release was evaluated on
            "data_path": str(p.data.raw_dir),
            "promote_git_rev": git_rev(),
        }
    )


def shadow_refusal(p: Params, predictor: Predictor, metrics: ModelMetrics, serving: bool) -> str | None:
    """Shadow-score the review queue's recent crops (:mod:`release.shadow`) with the candidate as it would be
    released and the served model; write ``promote.shadow_report``. Why ``promote.shadow: gate`` refuses
    the candidate, or None."""
    served = load_predictor(p.promote.dir, p.serve.prior_fake) if serving else None
    candidate = as_released(
        dataclasses.replace(predictor, prior_fake=p.serve.prior_fake), metrics, p.promote.serve_threshold
    )
    result = shadow_score(p, candidate, served)
    result.write(p.promote.shadow_report)
    flips = f"{len(result.flips)} of {result.n_items} recent request(s) would flip verdict"
    log.info("shadow: %s; %s", flips, result.reason)
    if p.promote.shadow == "gate" and not result.passed:
        return f"shadow ({flips}): {result.reason}"
    return None


def run_promote(p: Params) -> PromotionDecision:
    """Promote the best candidate if it beats the served model; write the decision file. One promote or
    rollback at a time (the releases folder's lock)."""
    with locked(p.promote.releases_dir):
        return _promote(p)


def _promote(p: Params) -> PromotionDecision:
    pp = p.promote
    reconcile(p)
    candidates = read_candidates(p)
    best = pick_best(candidates, pp.metric, pp.level)
    cand_score = candidates[best].value(pp.metric, pp.level)
    decision = {"metric": pp.metric, "level": pp.level, "candidate": best, "candidate_score": cand_score}
    served = served_metrics(p)
    current = (served[0], served[1].value(pp.metric, pp.level)) if served else None
    decision["current"], decision["current_score"] = current if current else (None, None)
    refusal = None
    if current is not None and not is_better(cand_score, current[1], pp.metric, pp.min_improvement):
        refusal = (
            f"{best} {pp.metric}={cand_score:.4f} does not beat served "
            f"{current[0]} {pp.metric}={current[1]:.4f} on the same test split"
        )
    elif served is not None and (regression := old_split_regression(candidates[best], served[1], p)):
        refusal = f"{best} beats served {current[0]} on the whole test split, but {regression}"
    if refusal is None and pp.shadow != "off":
        predictor = load_candidate(p, best)
        refusal = shadow_refusal(p, predictor, candidates[best], served is not None)
        decision["shadow_report"] = str(pp.shadow_report)
    if refusal is not None:
        log.info(refusal)
        out = PromotionDecision(**decision, promoted=False, reason=refusal)
        out.write(pp.decision)
        return out
    predictor = load_candidate(p, best)
    tag = release_tag(best, pp.releases_dir)
    pp.releases_dir.mkdir(parents=True, exist_ok=True)
    projection, ood = fit_projection(predictor, p)
    compression = fit_clip_compression(load_split(p.balance.manifest, "train"), p.data.raw_dir, pp.compression_quantile)
    record = release_record(p, predictor, tag, candidates[best], ood, compression)
    release = write_release(predictor, pp.releases_dir, tag, record, projection)
    history = [t for t in read_history(pp.releases_dir) if t != tag] + [tag]
    bento_tag = publish(p, release, history)
    beaten = f"served {current[0]} ({current[1]:.4f})" if current else "nothing (no model was served)"
    reason = f"{best} {pp.metric}={cand_score:.4f} beats {beaten}; {split_summary(candidates[best], pp.metric)}"
    if served is not None:
        reason += f" (served: {split_summary(served[1], pp.metric)})"
    log.info("promoted %s: %s", tag, reason)
    out = PromotionDecision(**decision, promoted=True, reason=reason, tag=tag, bento_tag=bento_tag)
    out.write(pp.decision)
    return out


def run_rollback(p: Params) -> RollbackResult:
    """Serve the release promoted before the one served now again (and save it to BentoML as latest)."""
    with locked(p.promote.releases_dir):
        return _rollback(p)


def _rollback(p: Params) -> RollbackResult:
    pp = p.promote
    releases = pp.releases_dir
    cur_tag = reconcile(p)
    history = read_history(releases)
    before = history[: history.index(cur_tag)] if cur_tag in history else [t for t in history if t != cur_tag]
    before = [t for t in before if (releases / t / RECORD_FILE).exists()]
    if not before:
        raise PromoteError(
            f"nothing to roll back to: {releases / HISTORY_FILE} lists no release before "
            f"{cur_tag or 'the current state'}"
        )
    target = releases / before[-1]
    bento_tag = publish(p, target, before)
    log.info("rolled back from %s to %s", cur_tag, target.name)
    return RollbackResult(rolled_back_from=cur_tag, serving=target.name, bento_tag=bento_tag)


def publish(p: Params, release: Path, history: list[str]) -> str:
    """Serve ``release``: swap the symlink, write ``history``, then save to the BentoML store, last.

    The store entry is what serving loads, so it is the commit point: on any failure before it is
    written, the symlink and history are put back to the store's release. Returns the store tag."""
    pp = p.promote
    with locked(pp.releases_dir):  # the caller's lock already when promote or rollback calls
        try:
            swap_link(pp.dir, release)
            write_json_atomic(pp.releases_dir / HISTORY_FILE, history)
            return save_to_bentoml(release, pp.bento_name)
        except BaseException:  # KeyboardInterrupt and SIGTERM too: leave nothing half-switched
            reconcile(p)
            raise


def store_release(name: str) -> str | None:
    """Release tag of BentoML model ``name``'s latest version (what serving loads); None when absent."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        metadata = bentoml.models.get(f"{name}:latest").info.metadata
    except NotFound:
        return None
    return BentoMetadata.parse(metadata, f"BentoML model {name}:latest").release


def reconcile(p: Params) -> str | None:
    """Make the symlink and history agree with the BentoML store after an interrupted promote or rollback.

    The store is written last, so its latest entry is the last operation that completed: the
    symlink is pointed back at it and the history cut after it (or given it). When the store has no
    version yet, the promoted release is saved to it. A store release this workspace does not hold
    (another checkout promoted it) is left alone. Returns the release served (None when none is)."""
    pp = p.promote
    releases = pp.releases_dir
    link = current_release(p)
    served = store_release(pp.bento_name)
    if served is None:
        if link is None:
            return None
        log.warning("BentoML store has no %s yet: saving the promoted release %s", pp.bento_name, link.name)
        save_to_bentoml(link, pp.bento_name)
        served = link.name
    elif not (releases / served / RECORD_FILE).exists():
        log.warning("BentoML store serves %s, not a release in %s: left as is", served, releases)
        return link.name if link is not None else None
    elif link != (releases / served).resolve():
        log.warning(
            "%s names %s but the BentoML store serves %s (an interrupted promote or rollback): pointing it back",
            pp.dir,
            link.name if link is not None else "nothing",
            served,
        )
        swap_link(pp.dir, releases / served)
    history = read_history(releases)
    fixed = history[: history.index(served) + 1] if served in history else [*history, served]
    if fixed != history:
        log.warning("%s: history %s does not end with the served %s: now %s", releases, history, served, fixed)
        write_json_atomic(releases / HISTORY_FILE, fixed)
    return served
