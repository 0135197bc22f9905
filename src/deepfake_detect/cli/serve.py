"""Scoring and monitoring from the command line: ``score`` (the service's scoring path, locally) and
``drift`` (the Evidently report of the serving window against the training side)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deepfake_detect.cli.common import ParamsOpt, fail, load, utc_option

serve_app = typer.Typer()


@serve_app.command()
def drift(
    media: Annotated[
        list[Path] | None,
        typer.Option("--media", help="Files/folders scored on the fly as the current window (not the request log)."),
    ] = None,
    reference_media: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference-media", help="Files/folders to use as the reference (instead of the split manifest)."
        ),
    ] = None,
    crops: Annotated[bool, typer.Option("--crops", help="Media are ready face crops (no face detection).")] = False,
    start: Annotated[str | None, typer.Option(help="Request-log window start (ISO-8601, UTC by default).")] = None,
    end: Annotated[str | None, typer.Option(help="Request-log window end (default: now).")] = None,
    model: Annotated[Path | None, typer.Option(help="Model folder (default: promote.dir).")] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: drift.report_dir).")] = None,
    fail_on_drift: Annotated[bool, typer.Option("--fail-on-drift", help="Exit 3 when drift is detected.")] = False,
    html: Annotated[
        bool,
        typer.Option(
            "--html/--no-html",
            help="Write the HTML report (its embedding picture is a t-SNE: minutes on a CPU for big windows).",
        ),
    ] = True,
    params: ParamsOpt = None,
) -> None:
    """Evidently drift report: the training side (drift.reference_split crops scored by the promoted model)
    against the last drift.window_days of the serving request log, or against --media scored on the fly.

    Writes <report_dir>/drift-<time>.html and .json (+ latest.json) with drift_detected, share_drifted_columns,
    embedding_drift_score, prediction_drift and the window; prints their summary as one JSON line on stdout,
    then a verdict per signal and the HTML path on stderr. See docs/operations.md for how to read it."""
    import json

    from deepfake_detect.monitoring.drift import drift_report
    from deepfake_detect.pipeline.report import drift_lines

    p = load(params)
    try:
        outcome = drift_report(
            p,
            model=model,
            media=media,
            crops=crops,
            reference_media=reference_media,
            start=utc_option(start, "start"),
            end=utc_option(end, "end"),
            out_dir=out,
            html=html,
        )
    except FileNotFoundError as exc:
        raise fail(exc, 2) from exc
    typer.echo(json.dumps(outcome.result.summary()))  # stdout: the one JSON line scripts and the DAG read
    typer.echo("\n".join(drift_lines(outcome.result)), err=True)  # the verdict per signal, for a person
    if fail_on_drift and outcome.drift_detected:
        raise typer.Exit(3)


@serve_app.command()
def score(
    paths: Annotated[list[Path], typer.Argument(help="Video / image files and folders (searched recursively).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")] = False,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write one CSV row per file here.")] = None,
    explain: Annotated[
        Path | None, typer.Option("--explain", help="Write Grad-CAM PNG overlays of the faces into this folder.")
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir",
            help="A model folder (record.json + artifact) instead of the BentoML store's serve.model_tag.",
        ),
    ] = None,
    crop: Annotated[bool, typer.Option("--crop", help="Images are ready face crops (no detection).")] = False,
    prior_fake: Annotated[
        float | None,
        typer.Option(
            "--prior-fake",
            min=0.0001,
            max=0.9999,
            help="Share of FAKE expected among these files: P(FAKE) is shifted from the calibration's "
            "base rate to it, the threshold with it (same verdicts). Default: serve.prior_fake.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Let --csv replace an existing file and --explain "
            "write into a non-empty folder (inputs are never overwritten).",
        ),
    ] = False,
    params: ParamsOpt = None,
) -> None:
    """Score videos and images locally, through the same code as the BentoML service: sampled frames,
    detected faces, per-face P(FAKE), the clip aggregated as evaluate does, labelled FAKE / REAL /
    NO_FACE at the promoted threshold. Exit code 1 when any file could not be scored."""
    from deepfake_detect.models.predictor import load_predictor
    from deepfake_detect.scoring.scan import check_outputs, collect_media, run_scan
    from deepfake_detect.scoring.scorer import load_from_store, local_scorer

    p = load(params)
    check_outputs(collect_media(paths), csv_out, explain, force)  # before the model loads: a refused output fails
    try:
        prior = p.serve.prior_fake if prior_fake is None else prior_fake
        model, bento_tag = (
            (load_predictor(model_dir, prior), None) if model_dir else load_from_store(p.serve.model_tag, prior)
        )
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise fail(exc, 2) from exc
    results = run_scan(
        local_scorer(p, model, bento_tag=bento_tag),
        paths,
        as_json=as_json,
        csv_path=csv_out,
        explain_dir=explain,
        crop=crop,
        force=force,
    )
    if any(r.failed for r in results):
        raise typer.Exit(1)
