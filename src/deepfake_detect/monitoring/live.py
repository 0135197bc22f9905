"""Live evaluation (``deepfake eval live``): each served model version judged on the reviewers' labels.

The reviewers' labels (the feedback dataset, ``data.feedback_dir``, and the review queue's labelled
items, ``serve.review.dir``) are joined to the request log (``serve.request_log_dir``) by request id:
the log says when the request was served and by which model version (``model_tag``). Each labelled item
is one unit (a person labels a request, not a face): its P(FAKE) is the request's score as served, its
verdict that score against the version's threshold (the review item's; for a label whose item is gone,
the log's own face labels: FAKE when any face was). The reviewer is the truth.

Per version and per ISO week of serving: labelled items, the confusion of reviewers vs model, precision,
recall, FPR and accuracy each with a Wilson 95% interval (:func:`wilson`, honest at any n), and AUC (both
classes needed) and ECE only from ``live.min_n`` items on ("n too small" below it). Writes
``live-<stamp>.json`` (a :class:`contracts.live.LiveResult`) + ``latest.json`` and an HTML report with plots
(:mod:`.livereport`) into ``live.report_dir``.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from deepfake_detect.config import Params
from deepfake_detect.contracts.live import LiveItem, LiveResult, LiveSlice, Rate
from deepfake_detect.contracts.metrics import Confusion
from deepfake_detect.models.calibration import expected_calibration_error
from deepfake_detect.scoring.feedback import read_feedback
from deepfake_detect.scoring.requestlog import read_request_log
from deepfake_detect.scoring.review import ReviewQueue

log = logging.getLogger(__name__)

LABEL_COLUMNS = ["id", "request_id", "file", "model_tag", "score", "threshold", "label", "note", "time"]


def wilson(k: int, n: int, z: float = 1.959964) -> Rate:
    """``k`` of ``n`` with its Wilson score interval (95% by default); None figures when ``n`` is 0."""
    if n == 0:
        return Rate(k=0, n=0, value=None, low=None, high=None)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # the interval always holds p: at k = n (or 0) rounding put its edge 1e-16 inside it (a negative error bar)
    return Rate(k=k, n=n, value=p, low=min(p, max(0.0, centre - half)), high=max(p, min(1.0, centre + half)))


def iso_week(t: pd.Timestamp | datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


def window(weeks: int, end: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``weeks`` ISO weeks up to ``end`` (now): from that many Mondays back (UTC) to ``end``."""
    end = end or datetime.now(UTC)
    monday = (end - timedelta(days=end.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday - timedelta(weeks=weeks - 1), end


def reviewer_labels(p: Params) -> pd.DataFrame:
    """One row per labelled item (:data:`LABEL_COLUMNS`): the review queue's labelled items (they know
    file, time and threshold), then the feedback dataset's items the queue no longer holds."""
    rows = [
        {
            "id": i.id,
            "request_id": i.request_id,
            "file": i.file,
            "model_tag": i.model_tag,
            "score": i.score,
            "threshold": i.threshold,
            "label": i.label,
            "note": i.note,
            "time": i.time,
        }
        for i in ReviewQueue(p).items()
        if i.label is not None
    ]
    seen = {r["id"] for r in rows}
    meta = read_feedback(p.data.feedback_dir)
    if len(meta) and {"original", "request_id", "label"} <= set(meta.columns):
        for item_id, g in meta.groupby("original", sort=True):
            first = g.iloc[0]
            if item_id in seen or not isinstance(first.get("request_id"), str):
                continue  # a row labelled by hand, not through the queue: no request to join
            rows.append(
                {
                    "id": item_id,
                    "request_id": first["request_id"],
                    "file": None,
                    "model_tag": first.get("model_tag"),
                    "score": pd.to_numeric(first.get("score"), errors="coerce"),
                    "threshold": None,
                    "label": str(first["label"]).upper(),
                    "note": first.get("note") if isinstance(first.get("note"), str) and first.get("note") else None,
                    "time": None,
                }
            )
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)


def _served(log_dir: Path, end: datetime) -> pd.DataFrame:
    """The request log up to ``end`` per (request_id, file): when served, by which version, its fakest
    face and whether any face was labelled FAKE (all of it: a label is placed by when it was served)."""
    records = read_request_log(log_dir, None, end)
    if not len(records):
        return pd.DataFrame(columns=["request_id", "file", "served_at", "log_tag", "log_max", "log_fake"])
    records["is_fake"] = records["label"] == "FAKE"
    return (
        records.groupby(["request_id", "file"], dropna=False, sort=False)
        .agg(
            served_at=("time", "min"),
            log_tag=("model_tag", "first"),
            log_max=("probability", "max"),
            log_fake=("is_fake", "any"),
        )
        .reset_index()
    )


def joined(p: Params, start: datetime, end: datetime) -> tuple[pd.DataFrame, int]:
    """Labelled items joined to the request log, inside ``[start, end)``: columns of the labels plus
    ``served_at``, ``week``, ``in_log``, ``y`` (reviewer FAKE) and ``pred`` (model FAKE); and how many
    labelled items there were in all."""
    labels = reviewer_labels(p)
    served = _served(p.serve.request_log_dir, end)
    by_request = {rid: g for rid, g in served.groupby("request_id", sort=False)}
    rows = []
    for item in labels.to_dict("records"):
        logged = by_request.get(item["request_id"])
        if logged is not None and isinstance(item["file"], str) and (logged["file"] == item["file"]).any():
            logged = logged[logged["file"] == item["file"]]
        hit = logged.iloc[0] if logged is not None and len(logged) == 1 else None  # several files: ambiguous
        when = hit["served_at"] if hit is not None else pd.to_datetime(item["time"], utc=True, format="ISO8601")
        if pd.isna(when) or not (start <= when.to_pydatetime() < end):
            continue
        score = item["score"] if pd.notna(item["score"]) else (hit["log_max"] if hit is not None else np.nan)
        tag = item["model_tag"] if isinstance(item["model_tag"], str) else (hit["log_tag"] if hit is not None else None)
        if pd.isna(score) or tag is None:
            log.warning("live: labelled item %s has no score or model tag: left out", item["id"])
            continue
        threshold = item["threshold"] if pd.notna(item["threshold"]) else None
        pred = score >= threshold if threshold is not None else bool(hit is not None and hit["log_fake"])
        rows.append(
            {
                **item,
                "model_tag": tag,
                "score": float(score),
                "threshold": threshold,
                "served_at": when,
                "week": iso_week(when),
                "in_log": hit is not None,
                "y": int(item["label"] == "FAKE"),
                "pred": int(pred),
            }
        )
    return pd.DataFrame(rows, columns=[*LABEL_COLUMNS, "served_at", "week", "in_log", "y", "pred"]), len(labels)


def slice_metrics(df: pd.DataFrame, tag: str, week: str | None, min_n: int, bins: int) -> LiveSlice:
    """One version (and week) of :func:`joined`'s rows as a :class:`LiveSlice`."""
    y, pred, score = df["y"].to_numpy(int), df["pred"].to_numpy(int), df["score"].to_numpy(float)
    tp, fp = int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum())
    fn, tn = int(((pred == 0) & (y == 1)).sum()), int(((pred == 0) & (y == 0)).sum())
    n, n_fake = len(df), int(y.sum())
    too_small = n < min_n
    both = 0 < n_fake < n
    auc = float(skm.roc_auc_score(y, score)) if both and not too_small else None
    ece = expected_calibration_error(y, score, bins) if not too_small else None
    notes = []
    if too_small:
        notes.append(f"n too small ({n} < live.min_n {min_n}): AUC and ECE withheld; read the intervals")
    elif not both:
        notes.append("one class only: AUC undefined")
    return LiveSlice(
        model_tag=tag,
        week=week,
        n=n,
        n_fake=n_fake,
        n_real=n - n_fake,
        thresholds=sorted({float(t) for t in df["threshold"] if t is not None and pd.notna(t)}),
        confusion=Confusion(tn=tn, fp=fp, fn=fn, tp=tp),
        precision=wilson(tp, tp + fp),
        recall=wilson(tp, tp + fn),
        fpr=wilson(fp, fp + tn),
        accuracy=wilson(tp + tn, n),
        auc=auc,
        ece=ece,
        too_small=too_small,
        note="; ".join(notes) or None,
    )


def evaluate_live(p: Params, start: datetime | None = None, end: datetime | None = None) -> LiveResult:
    """The :class:`LiveResult` of the window (default: the last ``live.weeks`` ISO weeks), nothing written."""
    s, e = window(p.live.weeks, end)
    start, end = start or s, end or e
    df, n_labels = joined(p, start, end)
    lp = p.live
    versions = [slice_metrics(g, str(tag), None, lp.min_n, lp.calibration_bins) for tag, g in df.groupby("model_tag")]
    weeks = [
        slice_metrics(g, str(tag), str(week), lp.min_n, lp.calibration_bins)
        for (tag, week), g in df.groupby(["model_tag", "week"])
    ]
    verdict = {0: "REAL", 1: "FAKE"}
    disagreements = [
        LiveItem(
            id=r["id"],
            request_id=r["request_id"],
            file=r["file"] if isinstance(r["file"], str) else None,
            model_tag=r["model_tag"],
            week=r["week"],
            score=r["score"],
            threshold=r["threshold"],
            model=verdict[r["pred"]],
            reviewer=verdict[r["y"]],
            note=r["note"] if isinstance(r["note"], str) else None,
        )
        for r in df.sort_values("served_at").to_dict("records")
        if r["pred"] != r["y"]
    ]
    return LiveResult(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        start=start.isoformat(),
        end=end.isoformat(),
        min_n=lp.min_n,
        n_labels=n_labels,
        n_in_log=int(df["in_log"].sum()) if len(df) else 0,
        n_evaluated=len(df),
        versions=versions,
        weeks=weeks,
        disagreements=disagreements,
    )


def live_report(
    p: Params,
    start: datetime | None = None,
    end: datetime | None = None,
    out_dir: Path | None = None,
    html: bool = True,
) -> LiveResult:
    """:func:`evaluate_live`, written as ``live-<stamp>.json`` + ``latest.json`` (+ ``live-<stamp>.html``)."""
    from deepfake_detect.monitoring.livereport import write_html

    result = evaluate_live(p, start, end)
    out = Path(out_dir or p.live.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "live-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    html_path = write_html(result, out / f"{stem}.html") if html else None
    result = result.model_copy(
        update={"report_html": str(html_path) if html_path else None, "report_json": str(out / f"{stem}.json")}
    )
    result.write(out / f"{stem}.json")
    result.write(out / "latest.json")
    return result
