"""The live evaluation as one self-contained HTML page: tables and matplotlib plots (PNG inlined),
nothing fetched from elsewhere, every text escaped (tags and file names come from uploads)."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

from deepfake_detect.contracts.live import LiveResult, LiveSlice, Rate
from deepfake_detect.files import write_text_atomic

RATES = ("precision", "recall", "fpr", "accuracy")


def _rate(r: Rate) -> str:
    if r.value is None:
        return "–"
    return f"{r.value:.2f} [{r.low:.2f}, {r.high:.2f}] ({r.k}/{r.n})"


def _num(v: float | None, why: str) -> str:
    return f"{v:.3f}" if v is not None else f"<span class=muted>{escape(why)}</span>"


def _row(s: LiveSlice) -> str:
    small = "n too small" if s.too_small else "one class"
    c = s.confusion
    cells = [
        escape(s.model_tag),
        escape(s.week or "all"),
        f"{s.n} ({s.n_fake} FAKE / {s.n_real} REAL)",
        ", ".join(f"{t:.3f}" for t in s.thresholds) or "–",
        *(_rate(getattr(s, k)) for k in RATES),
        _num(s.auc, small),
        _num(s.ece, "n too small"),
        f"TP {c.tp} · FP {c.fp} · FN {c.fn} · TN {c.tn}",
    ]
    return "<tr" + (" class=small" if s.too_small else "") + ">" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>"


def _table(slices: list[LiveSlice]) -> str:
    head = ["model version", "ISO week", "labelled items", "threshold", *RATES, "AUC", "ECE", "reviewer vs model"]
    if not slices:
        return "<p class=muted>No labelled item was served in this window.</p>"
    return (
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(_row(s) for s in slices) + "</table>"
    )


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def rates_plot(result: LiveResult) -> str:
    """Precision, recall and FPR per week, one line per version, Wilson intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = sorted({s.week for s in result.weeks if s.week})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, name in zip(axes, ("precision", "recall", "fpr"), strict=True):
        for tag in sorted({s.model_tag for s in result.weeks}):
            points = [(weeks.index(s.week), getattr(s, name)) for s in result.weeks if s.model_tag == tag and s.week]
            points = [(x, r) for x, r in points if r.value is not None]
            if not points:
                continue
            xs = [x for x, _ in points]
            ys = [r.value for _, r in points]
            err = [[r.value - r.low for _, r in points], [r.high - r.value for _, r in points]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=tag)
        ax.set_title(name.upper() if name == "fpr" else name)
        ax.set_xticks(range(len(weeks)), weeks, rotation=30, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower left")
    return _png(fig)


def confusion_plot(s: LiveSlice) -> str:
    """Reviewers (rows) against the model (columns) for one version."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = s.confusion
    grid = [[c.tn, c.fp], [c.fn, c.tp]]
    fig, ax = plt.subplots(figsize=(3.2, 2.8))
    ax.imshow(grid, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(grid[i][j]), ha="center", va="center", fontsize=12)
    ax.set_xticks([0, 1], ["model REAL", "model FAKE"])
    ax.set_yticks([0, 1], ["reviewer REAL", "reviewer FAKE"])
    ax.set_title(s.model_tag, fontsize=9)
    return _png(fig)


def write_html(result: LiveResult, path: Path) -> Path:
    versions = "".join(confusion_plot(s) for s in result.versions)
    flips = "".join(
        f"<tr><td>{escape(d.id)}</td><td>{escape(d.model_tag)}</td><td>{escape(d.week)}</td>"
        f"<td>{escape(d.file or '')}</td><td>{d.score:.3f}</td><td>{d.model}</td><td>{d.reviewer}</td>"
        f"<td>{escape(d.note or '')}</td></tr>"
        for d in result.disagreements
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Live evaluation</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px}}tr.small{{color:#777}}.muted{{color:#888}}img{{margin:4px}}</style>
</head><body><h1>Live evaluation on reviewer labels</h1>
<p>Window {escape(result.start)} → {escape(result.end)}: {result.n_evaluated} labelled item(s) evaluated
({result.n_in_log} found in the request log) of {result.n_labels} labelled in all. The reviewer is the truth;
rates carry Wilson 95% intervals; AUC and ECE need at least {result.min_n} items (live.min_n).</p>
<h2>Per model version</h2>{_table(result.versions)}
<h2>Per version and ISO week</h2>{_table(result.weeks)}
{rates_plot(result) if result.weeks else ""}
<h2>Reviewers vs model</h2>{versions}
<h2>Disagreements ({len(result.disagreements)})</h2>
<table><tr><th>item</th><th>version</th><th>week</th><th>file</th><th>P(FAKE)</th><th>model</th><th>reviewer</th>
<th>note</th></tr>{flips}</table></body></html>"""
    return write_text_atomic(path, body)
