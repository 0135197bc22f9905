"""The comparison table of every evaluated model (``evaluate.comparison``, .md and .csv): what each
costs and how well it does, side by side, from the metrics evaluate just wrote: the one table
docs/models.md keeps."""

from __future__ import annotations

from typing import Any

import pandas as pd

from deepfake_detect.contracts.metrics import FRAME_METRICS, ModelMetrics


def comparison_table(results: dict[str, ModelMetrics]) -> pd.DataFrame:
    """Every model side by side, one row each: what it costs (input size, train minutes, inference
    img/s), how well it ranks and is calibrated (frame and video AUC, log loss, ECE at the data's rate and
    balanced), each dataset's frame and video AUC, then every other test metric."""
    rows = []
    for name, m in results.items():
        q = m.calibration_quality
        row: dict[str, Any] = {
            "model": name,
            "family": m.family,
            "input_size": m.input_size if m.input_size is not None else "",
            "train_min": round(m.train_seconds / 60, 1),
            "infer_img_s": m.infer_img_s if m.infer_img_s is not None else "",
            "auc": m.frame.auc,
            "video_auc": m.video.auc,
            "log_loss": m.frame.log_loss,
            "ece": q.ece,
            "ece_balanced": q.ece_balanced,
        }
        for dataset, d in sorted(m.by_dataset.items()):
            row[f"{dataset}_auc"] = d.frame.auc if d.frame is not None else ""
            row[f"{dataset}_video_auc"] = d.video.auc if d.video is not None else ""
        row.update({k: m.frame.value(k) for k in FRAME_METRICS if k not in row})
        row.update({f"video_{k}": m.video.value(k) for k in FRAME_METRICS if f"video_{k}" not in row})
        row["threshold"] = m.threshold
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-markdown table, floats to 3 decimals."""

    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"
