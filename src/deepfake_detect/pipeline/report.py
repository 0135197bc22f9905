"""``deepfake report``: the end of ``make demo`` a person can read.

Blocks, from files the pipeline already wrote: the models side by side (frame and video AUC,
log loss and balanced accuracy on the test split, from evaluate's ``metrics/<model>.json``, a
:class:`contracts.metrics.ModelMetrics`); per model, its calibration (ECE and log loss at the data's FAKE
share and class-balanced), its operating points and each dataset per face, person and video with
bootstrap intervals; what promote decided and why (``promote.decision``), and where each report is
with the command that opens it (GX Data Docs, DVC plots, the Evidently drift report, the comparison
table, the model card). A file that is not there yet is named with the command that makes it."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from deepfake_detect.config import Params
from deepfake_detect.contracts.base import ContractError
from deepfake_detect.contracts.decisions import PromotionDecision
from deepfake_detect.contracts.drift import DriftResult, Signal
from deepfake_detect.contracts.metrics import BinaryMetrics, MetricName, ModelMetrics
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.release.gate import served_threshold

COLUMNS: tuple[MetricName, ...] = ("auc", "log_loss", "balanced_accuracy")
HEADERS = ("AUC", "log loss", "bal.acc")
DVC_PLOTS = Path("dvc_plots/index.html")  # where `dvc plots show` writes (DVC's default plots.out_dir)
MODEL_CARD = Path("docs/model_card.md")
SIGNALS: tuple[str, ...] = get_args(Signal)  # columns, embedding, prediction


class ReportError(DeepfakeError):
    """A metrics file the report cannot read (the message names the file and the missing field)."""


def read_rows(metrics_dir: Path) -> list[ModelMetrics]:
    """Every ``metrics/<model>.json`` evaluate wrote, by model name."""
    rows = []
    for path in sorted(Path(metrics_dir).glob("*.json")):
        try:
            rows.append(ModelMetrics.read(path))
        except ContractError as exc:
            raise ReportError(f"{exc} (was it written by `deepfake evaluate`?)") from exc
    return rows


def model_table(rows: list[ModelMetrics], promoted: str | None) -> list[str]:
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
        frame = "".join(f"{r.frame.value(k):>{cell}.3f}" for k in COLUMNS)
        video = "".join(f"{r.video.value(k):>{cell}.3f}" for k in COLUMNS)
        mark = "  <- promoted" if r.model == promoted else ""
        lines.append(f"{r.model:{width}}  {frame}  {video}{mark}")
    return lines


def _figure(m: BinaryMetrics | None, metric: MetricName) -> str:
    if m is None:
        return "one class"
    ci = m.intervals.get(metric)
    return f"{m.value(metric):.3f}" + (f" [{ci.low:.2f}-{ci.high:.2f}]" if ci else "")


def model_details(m: ModelMetrics, serve_threshold: str) -> list[str]:
    """Calibration, operating points and each dataset of one model (AUC with its 95% bootstrap interval);
    ``serve_threshold`` is ``promote.serve_threshold``, the rule that picks the threshold a release serves."""
    q, op, vop = m.calibration_quality, m.operating_point, m.video_operating_point
    lines = [
        f"{m.model}: calibration ({m.calibration.method}, fitted on val at {m.calibration.base_rate or 0:.0%} FAKE): "
        f"ECE {q.ece:.3f} / log loss {q.log_loss:.3f} at the test data's {q.base_rate:.0%} FAKE, "
        f"{q.ece_balanced:.3f} / {q.log_loss_balanced:.3f} class-balanced",
        f"  thresholds (from val): served {served_threshold(m, serve_threshold):.3f} ({serve_threshold}; balanced "
        f"accuracy {m.threshold:.3f}); faces {op.threshold:.3f} flags {op.test_fpr:.0%} of REAL "
        f"test faces (target {op.target_fpr:.0%}); videos {vop.threshold:.3f} flags {vop.test_fpr:.0%} of REAL "
        f"test clips (target {vop.target_fpr:.0%}), catching {vop.test_recall:.0%} of FAKE clips",
    ]
    for name, d in m.by_dataset.items():
        parts = [f"{level} AUC {_figure(getattr(d, level), 'auc')}" for level in ("frame", "person", "video")]
        if d.real_videos_flagged is not None:  # at the thresholds line's "videos" cut, this dataset alone
            parts.append(
                f"at videos {vop.threshold:.3f} {d.real_videos_flagged:.0%} of {d.real_videos} REAL clips called FAKE"
            )
        if d.fake_videos_caught is not None:
            parts.append(f"{d.fake_videos_caught:.0%} of FAKE clips caught")
        lines.append(f"  {name} ({d.n_videos} videos): " + ", ".join(parts))
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
    for row in rows:
        lines += ["", *model_details(row, p.promote.serve_threshold)]
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
    if (u := r.unfamiliar) is not None:  # the release's own per-answer flags, not a drift signal
        share = "none judged" if u.share is None else f"{u.share:.0%} of {u.n_judged} judged faces"
        lines.append(
            f"unlike the training data: {share} ({u.unlike_faces} by their faces, "
            f"{u.too_compressed} compressed harder than the training clips)"
        )
    if r.report_html:
        lines.append(f"report: {r.report_html}  (open: {open_command(Path(r.report_html))})")
    else:
        why = "no test ran" if r.status == "insufficient_data" else "--no-html"
        lines.append(f"report: no HTML ({why}); the figures are in {r.report_json}")
    return lines
