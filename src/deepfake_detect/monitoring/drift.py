"""Drift between what the model was trained on and what production sees, with Evidently 0.7.

Three signals, each from Evidently's own metrics, over one table per side whose columns are
the image statistics of :mod:`deepfake_detect.media.images` (``drift.columns``), the model's
P(FAKE) (``probability``) and its compact embedding (``emb_0..emb_k``, :meth:`Predictor.embed`):

* columns    ``DataDriftPreset`` over the image statistics; fires when the share of drifted
             columns reaches ``drift.drift_share`` (new cameras, recompression, blur, lighting)
* embedding  ``EmbeddingsDrift`` with the configured method (MMD by default, bootstrapped against
             the reference); catches a new face distribution or manipulation the stats miss
* prediction ``ValueDrift`` on P(FAKE); a new deepfake technique often moves the scores first

``drift_detected`` is true when at least ``drift.min_signals`` fire. The two sides are feature
tables (:mod:`.drift_tables`); :func:`compare` builds the report, reads its snapshot and decides
(:mod:`.drift_verdict`); :func:`drift_report` is one run end to end.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfake_detect.config import DriftParams
from deepfake_detect.contracts.drift import DriftResult, MeanProbability
from deepfake_detect.monitoring.tables import (
    DriftInputError,
    current_from_media,
    current_from_request_log,
    emb_columns,
    load_or_build_reference,
    unfamiliar_traffic,
    window_bounds,
)
from deepfake_detect.monitoring.verdict import (
    EMBEDDING,
    PROBABILITY,
    TSNE_MIN_ROWS,
    build_report,
    embedding_method,
    insufficient,
    read_snapshot,
    verdict,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftOutcome:
    """What one drift run found, and where its report files are."""

    result: DriftResult
    html: Path | None
    json: Path

    @property
    def drift_detected(self) -> bool:
        return self.result.drift_detected


# --------------------------------------------------------------------------- the report


def _check_table(df: pd.DataFrame, side: str, needed: list[str]) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DriftInputError(f"{side}: missing column(s) {', '.join(missing)}")
    bad = [c for c in needed if not np.isfinite(pd.to_numeric(df[c], errors="coerce")).all()]
    if bad:
        raise DriftInputError(f"{side}: non-numeric or non-finite values in column(s) {', '.join(bad)}")


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def comparable(reference: pd.DataFrame, current: pd.DataFrame, dp: DriftParams) -> tuple[pd.DataFrame, ...]:
    """Both tables cut to the compared columns (stats, P(FAKE), embedding), checked to be numeric."""
    emb_ref, emb_cur = emb_columns(reference), emb_columns(current)
    if not emb_ref or len(emb_ref) != len(emb_cur):
        raise DriftInputError(
            f"embedding sizes differ: reference {len(emb_ref)}, current {len(emb_cur)} "
            "(was the window scored by another model?)"
        )
    needed = [*dp.columns, PROBABILITY, *emb_ref]
    _check_table(reference, "reference", needed)
    _check_table(current, "current window", needed)
    return reference[needed].astype(float), current[needed].astype(float)


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    dp: DriftParams,
    window: dict[str, Any],
    out_dir: str | Path,
    stem: str | None = None,
    html: bool = True,
) -> DriftOutcome:
    """Run the Evidently report, decide, write ``<stem>.html`` + ``<stem>.json`` (+ ``latest.json``)."""
    from evidently import DataDefinition, Dataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or "drift-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = {
        "window": window,
        "n_reference": len(reference),
        "n_current": len(current),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "unfamiliar": unfamiliar_traffic(current),
    }
    if len(current) < dp.min_rows:
        result = insufficient(dp, base)
        log.warning("drift: %s", result.message)
        return _write(result, None, out_dir, stem)
    ref, cur = comparable(reference, current, dp)
    emb = emb_columns(ref)
    picture = html and len(ref) + len(cur) > TSNE_MIN_ROWS
    if html and not picture:
        log.info(
            "drift: %d rows in all, too few for the embedding picture; the report leaves it out", len(ref) + len(cur)
        )
    report, asked = build_report(dp, embedding_picture=picture)
    definition = DataDefinition(numerical_columns=list(ref.columns), embeddings={EMBEDDING: emb})
    snapshot = report.run(
        Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
    )
    figures = read_snapshot(snapshot.dict(), asked)
    # Evidently's embedding metric keeps only the score; the same (seeded) method gives score and verdict
    score, emb_drift, _ = embedding_method(dp)(cur[emb].reset_index(drop=True), ref[emb].reset_index(drop=True))
    means = MeanProbability(reference=float(ref[PROBABILITY].mean()), current=float(cur[PROBABILITY].mean()))
    result = verdict(figures, (_finite(score), bool(emb_drift)), dp, base, means, len(emb))
    html_path = None
    if html:
        html_path = out_dir / f"{stem}.html"
        snapshot.save_html(str(html_path))
    log.info(
        "drift: detected=%s signals=%s share_drifted_columns=%.2f embedding_score=%s prediction_p=%s",
        result.drift_detected,
        result.signals,
        figures.share,
        result.embedding_drift_score,
        result.prediction_drift_score,
    )
    return _write(result, html_path, out_dir, stem)


def _write(result: DriftResult, html_path: Path | None, out_dir: Path, stem: str) -> DriftOutcome:
    json_path = out_dir / f"{stem}.json"
    result = result.model_copy(
        update={"report_html": str(html_path) if html_path else None, "report_json": str(json_path)}
    )
    result.write(json_path)
    result.write(out_dir / "latest.json")
    return DriftOutcome(result, html_path, json_path)


# --------------------------------------------------------------------------- one run, end to end


def drift_report(
    p,
    *,
    model: Path | None = None,
    media: list[Path] | None = None,
    crops: bool = False,
    reference_media: list[Path] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    out_dir: Path | None = None,
    html: bool = True,
) -> DriftOutcome:
    """Reference (split manifest or a media folder) vs current (request log window or media), scored
    by the promoted model (or ``model``); writes the report into ``drift.report_dir`` (or ``out_dir``)."""
    from deepfake_detect.media.sampler import FrameLimits
    from deepfake_detect.models.predictor import load_predictor

    dp: DriftParams = p.drift
    predictor = load_predictor(model or p.promote.dir)
    limits = FrameLimits.of(p.serve)  # clips are decoded within the limits serving applies
    if reference_media:
        reference = current_from_media(reference_media, predictor, p.extract, dp, crops=crops, limits=limits)
        ref_desc: dict[str, Any] = {"source": "media", "paths": [str(x) for x in reference_media]}
    else:
        reference = load_or_build_reference(p.balance.manifest, predictor, dp, seed=p.seed)
        ref_desc = {"source": "manifest", "manifest": str(p.balance.manifest), "split": dp.reference_split}
    if media:
        current = current_from_media(media, predictor, p.extract, dp, crops=crops, limits=limits)
        window: dict[str, Any] = {"source": "media", "paths": [str(x) for x in media], "crops": crops}
    else:
        if start is None or end is None:
            s, e = window_bounds(dp.window_days, end)
            start, end = start or s, end or e
        log_dir = p.serve.request_log_dir
        current = current_from_request_log(log_dir, start, end, model_tag=predictor.tag)
        window = {"source": "request_log", "log_dir": str(log_dir), "start": start.isoformat(), "end": end.isoformat()}
    window["reference"] = ref_desc
    window["model_tag"] = predictor.tag
    return compare(reference, current, dp, window, out_dir or dp.report_dir, html=html)
