"""The model stages of dvc.yaml and the release: ``train``, ``evaluate``, ``gate``, ``promote`` (and
``--rollback``), and ``report``, what a pipeline run made."""

from __future__ import annotations

from typing import Annotated

import typer

from deepfake_detect.cli.common import ParamsOpt, fail, load
from deepfake_detect.models import FAMILIES

models_app = typer.Typer()


@models_app.command()
def train(
    model: Annotated[str, typer.Argument(help=" | ".join(FAMILIES))],
    params: ParamsOpt = None,
) -> None:
    """Train one model family on the split manifest (train split; early stopping on val) and write
    its model folder under train.models_dir plus training curves under train.curves_dir."""
    from deepfake_detect.pipeline.train import run_train

    p = load(params)
    try:
        run_train(p, model)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(exc, 2) from exc


@models_app.command()
def evaluate(params: ParamsOpt = None) -> None:
    """Score every trained model on val (threshold) and test (metrics), frame and video level; write
    metrics/<model>.json, the comparison table and ROC / PR / calibration / confusion plot data."""
    from deepfake_detect.pipeline.evaluate import run_evaluate

    try:
        run_evaluate(load(params))
    except FileNotFoundError as exc:
        raise fail(exc, 2) from exc


@models_app.command()
def gate(
    minimum: Annotated[float | None, typer.Option(help="Bound on promote.metric (default: retrain.gate_min).")] = None,
    params: ParamsOpt = None,
) -> None:
    """Evaluation gate of the retrain DAG: fails (exit 1) unless the model promote would pick (the best
    of promote.candidates) reaches retrain.gate_min on promote.metric at promote.level."""

    from deepfake_detect.release.gate import check_gate

    typer.echo(check_gate(load(params), minimum).model_dump_json())  # GateFailed: exit code 1


@models_app.command()
def promote(
    rollback: Annotated[bool, typer.Option("--rollback", help="Serve the previously promoted release again.")] = False,
    params: ParamsOpt = None,
) -> None:
    """Promote the best model (promote.metric) if it beats the served one on the same test split:
    atomic symlink swap of promote.dir, BentoML model store entry, releases kept for --rollback.

    With promote.shadow report | gate it first shadow-scores the review queue's recent crops (as
    `deepfake shadow` does, report in promote.shadow_report); gate refuses a candidate that loses more than
    promote.max_regression of promote.metric on the reviewers' labelled items."""
    from deepfake_detect.pipeline.promote import run_promote, run_rollback

    p = load(params)
    try:
        result = run_rollback(p) if rollback else run_promote(p)
    except FileNotFoundError as exc:
        raise fail(exc, 2) from exc
    if rollback:
        typer.echo(f"serving {result.serving} (was {result.rolled_back_from})")
    else:
        typer.echo(result.reason)


@models_app.command()
def report(params: ParamsOpt = None) -> None:
    """What a pipeline run produced, in one screen: each model's frame and video AUC, log loss and
    balanced accuracy on test, which model promote chose and why, and where each report is (GX Data
    Docs, DVC plots, Evidently drift, comparison table, model card) with the command that opens it."""
    from deepfake_detect.pipeline.report import render

    typer.echo(render(load(params)))
