"""``deepfake report``: the end of ``make demo`` a person can read.

Three blocks, from files the pipeline already wrote: the models side by side (frame and video AUC,
log loss and balanced accuracy on the test split, from evaluate's ``metrics/<model>.json``), what
promote decided and why (``promote.decision``), and where each report is with the command that
opens it (GX Data Docs, DVC plots, the Evidently drift report, the comparison table, the model
card). A file that is not there yet is named with the command that makes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from deepfake_detect.config import Params
from deepfake_detect.contracts import ContractError, DriftResult, PromotionDecision, Signal
from deepfake_detect.errors import DeepfakeError

COLUMNS = ("auc", "log_loss", "balanced_accuracy")
HEADERS = ("AUC", "log loss", "bal.acc")
DVC_PLOTS = Path("dvc_plots/index.html")  # where `dvc plots show` writes (DVC's default plots.out_dir)
MODEL_CARD = Path("docs/model_card.md")
SIGNALS: tuple[str, ...] = get_args(Signal)  # columns, embedding, prediction


class ReportError(DeepfakeError):
    """A metrics file the report cannot read (the message names the file and the missing field)."""


@dataclass(frozen=True)
class ModelRow:
    model: str
    frame: dict[str, float]  # COLUMNS on the test split's face crops
    video: dict[str, float]  # COLUMNS on its videos (evaluate.video_aggregation)


def read_rows(metrics_dir: Path) -> list[ModelRow]:
    """One row per ``metrics/<model>.json`` (evaluate writes top-level frame metrics and a ``video`` block)."""
    rows = []
    for path in sorted(Path(metrics_dir).glob("*.json")):
        try:
            m: dict[str, Any] = json.loads(path.read_text())
            rows.append(
                ModelRow(
                    model=str(m.get("model") or path.stem),
                    frame={k: float(m[k]) for k in COLUMNS},
                    video={k: float(m["video"][k]) for k in COLUMNS},
                )
            )
        except (OSError, ValueError, TypeError) as exc:
            raise ReportError(f"{path}: not a metrics file evaluate wrote ({exc})") from exc
        except KeyError as exc:
            raise ReportError(f"{path}: no {exc.args[0]!r} (was it written by `deepfake evaluate`?)") from exc
    return rows


def model_table(rows: list[ModelRow], promoted: str | None) -> list[str]:
    """The comparison as aligned text lines, the promoted model marked."""
    width = max([len("model"), *(len(r.model) for r in rows)])
    cell = 9
    block = cell * len(COLUMNS)
    headers = "".join(f"{h:>{cell}}" for h in HEADERS)
    lines = [
        f"{'':{width}}  {'frame level (test crops)':^{block}}  {'video level (test clips)':^{block}}",
        f"{'model':{width}}  {headers}  {headers}",
    ]
    for r in rows:
        frame = "".join(f"{r.frame[k]:>{cell}.3f}" for k in COLUMNS)
        video = "".join(f"{r.video[k]:>{cell}.3f}" for k in COLUMNS)
        mark = "  <- promoted" if r.model == promoted else ""
        lines.append(f"{r.model:{width}}  {frame}  {video}{mark}")
    return lines


def decision_lines(path: Path) -> tuple[str | None, list[str]]:
    """(the model this run promoted, or None; what promote decided and why)."""
    if not Path(path).exists():
        return None, [f"promotion: {path} not written yet (run `dvc repro` or `deepfake promote`)"]
    try:
        d = PromotionDecision.read(path)
    except ContractError as exc:
        return None, [f"promotion: {exc}"]
    why = [f"  why: {d.reason}", f"  rule: best {d.metric} at {d.level} level (promote.metric, promote.level)"]
    if d.promoted:
        return d.candidate, [f"promoted: {d.candidate} as release {d.tag} ({d.bento_tag})", *why]
    return None, [f"not promoted: {d.current} stays served", *why]


def _latest_drift_html(report_dir: Path) -> Path | None:
    try:
        html = DriftResult.read(report_dir / "latest.json").report_html
    except ContractError:  # no drift run yet, or one being written: named as not made yet
        return None
    return Path(html) if html else None


def report_locations(p: Params) -> list[tuple[str, Path | None, str]]:
    """(what, its file or None, the command that makes it) for each report a person reads."""
    return [
        ("GX Data Docs, manifest", p.validate_.manifest_report / "data_docs" / "index.html", "deepfake validate"),
        ("GX Data Docs, split", p.validate_.split_report / "data_docs" / "index.html", "deepfake validate --split"),
        ("DVC plots: ROC, PR, calibration, confusion", DVC_PLOTS, "dvc plots show"),
        ("Evidently drift report", _latest_drift_html(p.drift.report_dir), "deepfake drift"),
        ("model comparison table", p.evaluate.comparison, "deepfake evaluate"),
        ("model card", MODEL_CARD, "git checkout -- docs/model_card.md"),
    ]


def open_command(path: Path) -> str:
    if path.suffix == ".html":
        return f"python -m webbrowser {path.resolve().as_uri()}"
    return f"less {path}"


def render(p: Params) -> str:
    rows = read_rows(p.evaluate.metrics_dir)
    promoted, decision = decision_lines(p.promote.decision)
    lines = ["Models on the test split (videos no model trained on):"]
    if rows:
        lines += ["  " + line for line in model_table(rows, promoted)]
    else:
        lines.append(f"  no metrics in {p.evaluate.metrics_dir}/ yet (run `dvc repro` or `deepfake evaluate`)")
    lines += ["", *decision, "", "Reports (the command opens each):"]
    places = report_locations(p)
    width = max(len(what) for what, _, _ in places)
    for what, path, make in places:
        if path is not None and path.exists():
            lines.append(f"  {what:{width}}  {open_command(path)}")
        else:
            lines.append(f"  {what:{width}}  not made yet: run `{make}`")
    return "\n".join(lines)


# --------------------------------------------------------------------------- drift


def _signal_line(name: str, fired: bool | None, detail: str) -> str:
    verdict = "not tested" if fired is None else ("DRIFT" if fired else "no drift")
    return f"  {name:<10}  {verdict:<10}  {detail}"


def drift_lines(r: DriftResult) -> list[str]:
    """What ``deepfake drift`` ends with: the verdict, one line per signal, the HTML report's path."""
    if r.status == "insufficient_data":
        lines = [f"drift: NO VERDICT: {r.message}"]
        lines += [_signal_line(s, None, "too few faces in the window") for s in SIGNALS]
    else:
        head = "DETECTED" if r.drift_detected else "none"
        lines = [
            f"drift: {head}: {len(r.signals)} of {len(SIGNALS)} signals fire (drift.min_signals {r.min_signals}); "
            f"{r.n_reference} reference faces vs {r.n_current} in the window"
        ]
        drifted = ", ".join(r.drifted_columns) or "none"
        columns = (
            f"{len(r.drifted_columns)} of {len(r.columns)} image statistics drifted ({drifted}; {r.column_method})"
        )
        if r.share_drifted_columns is not None:
            columns += f", share {r.share_drifted_columns:.2f} vs drift.drift_share {r.drift_share:.2f}"
        lines.append(_signal_line("columns", "columns" in r.signals, columns))
        score = "–" if r.embedding_drift_score is None else f"{r.embedding_drift_score:.3f}"
        lines.append(_signal_line("embedding", r.embedding_drift, f"{r.embedding_method} score {score}"))
        p = "–" if r.prediction_drift_score is None else f"{r.prediction_drift_score:.3g}"
        kind = "p-value" if r.prediction_method == "ks" else "score"
        mean = r.mean_probability
        moved = f"; mean P(FAKE) {mean.reference:.3f} -> {mean.current:.3f}" if mean else ""
        lines.append(_signal_line("prediction", r.prediction_drift, f"{r.prediction_method} {kind} {p}{moved}"))
    if r.report_html:
        lines.append(f"report: {r.report_html}  (open: {open_command(Path(r.report_html))})")
    else:
        why = "no test ran" if r.status == "insufficient_data" else "--no-html"
        lines.append(f"report: no HTML ({why}); the figures are in {r.report_json}")
    return lines
