"""``deepfake eval live`` (served versions on the reviewers' labels) and ``deepfake shadow`` (a candidate
re-scoring recent traffic before it serves). Registered in :mod:`.main`; a project error is one
``error:`` line and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deepfake_detect.cli.common import ParamsOpt, load, utc_option

eval_app = typer.Typer(
    help="Evaluation on live traffic: each served model version on the reviewers' labels (docs/operations.md).",
    no_args_is_help=True,
)


def _fig(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _rate(r) -> str:
    """``0.50 [0.09, 0.91]``: a rate with its Wilson 95% interval."""
    return "n/a" if r.value is None else f"{r.value:.2f} [{r.low:.2f}, {r.high:.2f}]"


@eval_app.command("live")
def live(
    start: Annotated[
        str | None, typer.Option(help="Serving-time window start (ISO-8601, UTC by default; default: live.weeks back).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Window end (default: now).")] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: live.report_dir).")] = None,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write the HTML report with its plots.")] = True,
    params: ParamsOpt = None,
) -> None:
    """Join the reviewers' labels (data.feedback_dir and the review queue) to the request log by request id
    and judge each served model version, per ISO week: labelled items, precision, recall, FPR (Wilson 95%
    intervals), AUC and ECE (from live.min_n items on; "n too small" below), the reviewers-vs-model
    confusion and every disagreement.

    Writes <live.report_dir>/live-<time>.json (+ latest.json) and .html; prints one JSON summary line on
    stdout, then a line per version and the HTML path on stderr."""
    from deepfake_detect.monitoring.live import live_report

    p = load(params)
    result = live_report(p, utc_option(start, "start"), utc_option(end, "end"), out, html)
    summary = {
        "n_labels": result.n_labels,
        "n_evaluated": result.n_evaluated,
        "n_in_log": result.n_in_log,
        "versions": {
            s.model_tag: {
                "n": s.n,
                "precision": s.precision.value,
                "recall": s.recall.value,
                "fpr": s.fpr.value,
                "auc": s.auc,
                "ece": s.ece,
                "too_small": s.too_small,
            }
            for s in result.versions
        },
        "disagreements": len(result.disagreements),
        "report_json": result.report_json,
    }
    typer.echo(json.dumps(summary))
    for s in result.versions:
        typer.echo(
            f"{s.model_tag}: {s.n} labelled ({s.n_fake} FAKE), precision {_rate(s.precision)} "
            f"recall {_rate(s.recall)} FPR {_rate(s.fpr)} AUC {_fig(s.auc)} ECE {_fig(s.ece)}"
            + (f"  ({s.note})" if s.note else ""),
            err=True,
        )
    if not result.versions:
        typer.echo("no labelled item was served in this window (`deepfake review list` shows the queue)", err=True)
    typer.echo(f"report: {result.report_html or result.report_json}", err=True)


def shadow(
    candidate: Annotated[
        Path, typer.Argument(help="A candidate model folder (e.g. models/trained/xception: record.json + artifact).")
    ],
    served: Annotated[Path | None, typer.Option(help="The model to compare with (default: promote.dir).")] = None,
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression",
            help="Exit 3 when the candidate loses more than promote.max_regression on the labelled items.",
        ),
    ] = False,
    params: ParamsOpt = None,
) -> None:
    """Shadow scoring before promotion: re-score the review queue's crops kept in the last promote.shadow_days
    with the candidate and the served model, each at its own threshold (a trained folder with evaluate's
    metrics at the threshold and calibration promote would give it).

    Prints the report (promote.shadow_report, also written) as JSON on stdout: agreement, every request whose
    verdict would flip with the reviewer's label where known, and both models' promote.metric on the labelled
    requests (accuracy when they hold one class); a short summary on stderr. `promote` runs the same check
    with promote.shadow: report | gate."""
    from deepfake_detect.release.shadow import run_shadow

    p = load(params)
    result = run_shadow(p, candidate, served)
    typer.echo(result.model_dump_json(indent=2))
    agree = "n/a" if result.agreement is None else f"{result.agreement:.1%}"
    typer.echo(
        f"shadow: {result.n_items} request(s) kept since {result.start} ({result.n_labelled} labelled); "
        f"agreement {agree}; {len(result.flips)} would flip verdict",
        err=True,
    )
    for f in result.flips:
        known = f", reviewer says {f.label}" if f.label else ""
        typer.echo(f"  {f.id} {f.file}: {f.served_verdict} -> {f.candidate_verdict}{known}", err=True)
    typer.echo(("passed: " if result.passed else "REGRESSION: ") + result.reason, err=True)
    typer.echo(f"report: {p.promote.shadow_report}", err=True)
    if fail_on_regression and not result.passed:
        raise typer.Exit(3)
