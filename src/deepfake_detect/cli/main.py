"""``deepfake``: one command per pipeline stage and utility.

Every stage reads its settings from params.yaml (``--params`` or ``$DEEPFAKE_PARAMS`` to point
elsewhere); ``dvc repro`` calls these same commands. Run ``deepfake COMMAND --help`` for details.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from deepfake_detect.cli.evaluation import eval_app, shadow
from deepfake_detect.cli.review import review_app
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.models import FAMILIES

for _var, _value in (
    ("BENTOML_DO_NOT_TRACK", "true"),
    ("DO_NOT_TRACK", "1"),
    ("DVC_NO_ANALYTICS", "1"),
    ("TF_CPP_MIN_LOG_LEVEL", "2"),
):
    os.environ.setdefault(_var, _value)


class KnownErrors(TyperGroup):
    """Every command: a project error (:class:`DeepfakeError`) is one ``error:`` line and its exit code
    (2), not a traceback; any other exception is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DeepfakeError as exc:
            raise _fail(exc, exc.exit_code) from exc


app = typer.Typer(
    cls=KnownErrors,
    help="Deepfake-video detection platform: DFDC data → faces → validated, balanced splits → "
    "models → metrics → promoted detector → serving and drift monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Raw data: the embedded sample, Kaggle downloads, layout checks.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(review_app, name="review")
app.add_typer(eval_app, name="eval")
app.command("shadow")(shadow)

ParamsOpt = Annotated[Path | None, typer.Option("--params", help="params.yaml to use (default: ./params.yaml)")]
log = logging.getLogger("deepfake_detect")


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("great_expectations", "h5py", "absl", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    _setup_logging(verbose)


def _params(path: Path | None):
    from deepfake_detect.config import ConfigError, load_params

    try:
        return load_params(path)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(code)


# --------------------------------------------------------------------------- data


@data_app.command("sample")
def data_sample(
    out: Annotated[Path | None, typer.Option(help="Folder to write (default: data.raw_dir).")] = None,
    if_missing: Annotated[bool, typer.Option("--if-missing", help="Do nothing when the folder has data.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty folder that is not a sample (moved aside).")
    ] = False,
    params: ParamsOpt = None,
) -> None:
    """Generate the embedded DFDC-format sample: short REAL clips of distinct synthetic identities and
    FAKE clips made from them with self-blending traces, plus metadata.json. Deterministic; offline.

    Its metrics prove the plumbing, not accuracy."""
    from deepfake_detect.data.sample import SampleTargetError, generate_sample

    p = _params(params)
    target = out or p.data.raw_dir
    if if_missing and target.is_dir() and any(target.iterdir()):
        log.info("%s already holds data; keeping it (--if-missing)", target)
        return
    try:
        generate_sample(target, p.sample, seed=p.seed, force=force)
    except SampleTargetError as exc:
        raise _fail(exc, 2) from exc


@data_app.command("feedback")
def data_feedback(params: ParamsOpt = None) -> None:
    """Make the feedback folder (data.feedback_dir) when absent: the reviewers' labelled crops
    (`deepfake review label`), the pipeline's second source, empty until the first label.

    dvc.yaml's feedback stage runs it, so a fresh clone needs no folder of its own; the labels in it
    are kept as they are and versioned by `dvc repro` (or `dvc commit feedback`)."""
    folder = _params(params).data.feedback_dir
    folder.mkdir(parents=True, exist_ok=True)
    log.info("feedback folder %s: %d file(s)", folder, sum(1 for f in folder.rglob("*") if f.is_file()))


@data_app.command("download")
def data_download(
    dataset: Annotated[str, typer.Argument(help="deepfake-faces | dfdc-sample | dfdc-part-N (N = 0..49)")],
    out: Annotated[Path | None, typer.Option(help="Folder to write (default: data.raw_dir).")] = None,
    params: ParamsOpt = None,
) -> None:
    """Download DFDC data with Kaggle's official API (needs ~/.kaggle/kaggle.json or KAGGLE_USERNAME/
    KAGGLE_KEY, and for DFDC the competition rules accepted). Leaves no partial files on failure."""
    from deepfake_detect.data.download import DownloadError, download

    p = _params(params)
    try:
        download(dataset, out or p.data.raw_dir)
    except DownloadError as exc:
        raise _fail(exc, 2) from exc


@data_app.command("layout")
def data_layout(
    raw_dir: Annotated[Path | None, typer.Argument(help="Folder to inspect (default: data.raw_dir).")] = None,
    params: ParamsOpt = None,
) -> None:
    """Print which layout a raw folder has and what each of its parts (sources) holds."""
    from deepfake_detect.data.sources import LayoutError, detect_layout, list_clips, list_ready_crops, source_parts
    from deepfake_detect.scoring.names import printable

    p = _params(params)
    folder = raw_dir or p.data.raw_dir
    try:
        typer.echo(f"{printable(folder)}: {detect_layout(folder)}")
        for part, where, layout in source_parts(folder):
            videos = layout == "dfdc_videos"
            items, rejects = list_clips(folder, part) if videos else list_ready_crops(where)
            n_fake = sum(1 for i in items if i.label == "FAKE")
            datasets = ", ".join(sorted({i.dataset for i in items}))
            typer.echo(
                f"  part {printable(part)}: {layout}: {len(items)} {'clips' if videos else 'crops'} ({n_fake} FAKE, "
                f"{len(items) - n_fake} REAL; {datasets}), {len({i.group for i in items})} groups, "
                f"{len(rejects)} rejected"
            )
            for r in rejects[:20]:
                typer.echo(f"    rejected {printable(r.path)}: {printable(r.reason)}")
    except LayoutError as exc:
        raise _fail(exc, 2) from exc


# --------------------------------------------------------------------------- data stages


@app.command()
def extract(
    part: Annotated[str | None, typer.Option(help="Only this part folder (fan-out); writes its part manifest.")] = None,
    merge_only: Annotated[bool, typer.Option("--merge-only", help="Only merge existing part manifests.")] = False,
    list_parts: Annotated[
        bool, typer.Option("--list-parts", help="Only print the raw part folders, as a JSON list (fan-out).")
    ] = False,
    params: ParamsOpt = None,
) -> None:
    """Clips → N sampled frames → detected faces → crops + manifest (one row per crop).

    Face-crop datasets (deepfake-faces) pass through the same manifest. Bad files go to the
    rejects file with a reason; the stage goes on."""
    import json as _json

    from deepfake_detect.pipeline import extract as stage

    p = _params(params)
    if list_parts:
        typer.echo(_json.dumps(stage.list_parts(p)))
        return
    stage.run_extract(p, part=part, merge_only=merge_only)


@app.command()
def validate(
    split: Annotated[
        bool,
        typer.Option(
            "--split",
            help="Check the split manifest (after balance) instead: no group on two sides, both classes in test.",
        ),
    ] = False,
    params: ParamsOpt = None,
) -> None:
    """Great Expectations suite over the manifest and crop image statistics; stops on a hard failure.

    Writes result.json and HTML Data Docs under validate.manifest_report (or validate.split_report)."""
    from deepfake_detect.pipeline.validate import ValidationFailed, run_validate

    p = _params(params)
    try:
        run_validate(p, split=split)
    except ValidationFailed as exc:
        raise _fail(exc, 1) from exc


@app.command()
def clean(params: ParamsOpt = None) -> None:
    """Drop unreadable, duplicate, too small, too dark/bright, too blurry or faceless crops, with reasons."""
    from deepfake_detect.pipeline.clean import run_clean

    run_clean(_params(params))


@app.command()
def balance(params: ParamsOpt = None) -> None:
    """Split train/val/test by group (stratified by label), then balance the training side."""
    from deepfake_detect.pipeline.balance import run_balance

    run_balance(_params(params))


# --------------------------------------------------------------------------- monitoring


def _utc(value: str | None, name: str):
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(ValueError(f"--{name}: not an ISO-8601 date/time: {value!r}"), 2) from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@app.command()
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
    import json as _json

    from deepfake_detect.models.predictor import ModelLoadError
    from deepfake_detect.monitoring.drift import drift_report
    from deepfake_detect.monitoring.tables import DriftInputError
    from deepfake_detect.pipeline.report import drift_lines

    p = _params(params)
    try:
        outcome = drift_report(
            p,
            model=model,
            media=media,
            crops=crops,
            reference_media=reference_media,
            start=_utc(start, "start"),
            end=_utc(end, "end"),
            out_dir=out,
            html=html,
        )
    except (DriftInputError, ModelLoadError, FileNotFoundError) as exc:
        raise _fail(exc, 2) from exc
    typer.echo(_json.dumps(outcome.result.summary()))  # stdout: the one JSON line scripts and the DAG read
    typer.echo("\n".join(drift_lines(outcome.result)), err=True)  # the verdict per signal, for a person
    if fail_on_drift and outcome.drift_detected:
        raise typer.Exit(3)


@app.command()
def gate(
    minimum: Annotated[float | None, typer.Option(help="Bound on promote.metric (default: retrain.gate_min).")] = None,
    params: ParamsOpt = None,
) -> None:
    """Evaluation gate of the retrain DAG: fails (exit 1) unless the model promote would pick (the best
    of promote.candidates) reaches retrain.gate_min on promote.metric at promote.level."""

    from deepfake_detect.release.gate import GateFailed, check_gate

    p = _params(params)
    try:
        decision = check_gate(p, minimum)
    except GateFailed as exc:
        raise _fail(exc, 1) from exc
    typer.echo(decision.model_dump_json())


# --------------------------------------------------------------------------- models


@app.command()
def train(
    model: Annotated[str, typer.Argument(help=" | ".join(FAMILIES))],
    params: ParamsOpt = None,
) -> None:
    """Train one model family on the split manifest (train split; early stopping on val) and write
    its model folder under train.models_dir plus training curves under train.curves_dir."""
    from deepfake_detect.models.dataset import SplitError
    from deepfake_detect.models.xception import WeightsUnavailable
    from deepfake_detect.pipeline.train import run_train

    p = _params(params)
    try:
        run_train(p, model)
    except (SplitError, WeightsUnavailable, FileNotFoundError, ValueError) as exc:
        raise _fail(exc, 2) from exc


@app.command()
def evaluate(params: ParamsOpt = None) -> None:
    """Score every trained model on val (threshold) and test (metrics), frame and video level; write
    metrics/<model>.json, the comparison table and ROC / PR / calibration / confusion plot data."""
    from deepfake_detect.models.dataset import SplitError
    from deepfake_detect.models.predictor import ModelLoadError
    from deepfake_detect.pipeline.evaluate import run_evaluate
    from deepfake_detect.release.metrics import MetricsError

    try:
        run_evaluate(_params(params))
    except (MetricsError, SplitError, ModelLoadError, FileNotFoundError) as exc:
        raise _fail(exc, 2) from exc


@app.command()
def promote(
    rollback: Annotated[bool, typer.Option("--rollback", help="Serve the previously promoted release again.")] = False,
    params: ParamsOpt = None,
) -> None:
    """Promote the best model (promote.metric) if it beats the served one on the same test split:
    atomic symlink swap of promote.dir, BentoML model store entry, releases kept for --rollback.

    With promote.shadow report | gate it first shadow-scores the review queue's recent crops (as
    `deepfake shadow` does, report in promote.shadow_report); gate refuses a candidate that loses more than
    promote.max_regression of promote.metric on the reviewers' labelled items."""
    from deepfake_detect.pipeline.promote import PromoteError, run_promote, run_rollback
    from deepfake_detect.release.gate import CandidateError
    from deepfake_detect.release.metrics import MetricsError

    p = _params(params)
    try:
        result = run_rollback(p) if rollback else run_promote(p)
    except (PromoteError, CandidateError, MetricsError, FileNotFoundError) as exc:
        raise _fail(exc, 2) from exc
    if rollback:
        typer.echo(f"serving {result.serving} (was {result.rolled_back_from})")
    else:
        typer.echo(result.reason)


@app.command()
def report(params: ParamsOpt = None) -> None:
    """What a pipeline run produced, in one screen: each model's frame and video AUC, log loss and
    balanced accuracy on test, which model promote chose and why, and where each report is (GX Data
    Docs, DVC plots, Evidently drift, comparison table, model card) with the command that opens it."""
    from deepfake_detect.pipeline.report import render

    typer.echo(render(_params(params)))


@app.command()
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
    from deepfake_detect.scoring.scan import ScanInputError, check_outputs, collect_media, run_scan
    from deepfake_detect.scoring.scorer import load_from_store, local_scorer

    p = _params(params)
    try:  # before the model loads: a refused output fails at once
        check_outputs(collect_media(paths), csv_out, explain, force)
    except ScanInputError as exc:
        raise _fail(exc, 2) from exc
    try:
        prior = p.serve.prior_fake if prior_fake is None else prior_fake
        model, bento_tag = (
            (load_predictor(model_dir, prior), None) if model_dir else load_from_store(p.serve.model_tag, prior)
        )
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise _fail(exc, 2) from exc
    try:
        results = run_scan(
            local_scorer(p, model, bento_tag=bento_tag),
            paths,
            as_json=as_json,
            csv_path=csv_out,
            explain_dir=explain,
            crop=crop,
            force=force,
        )
    except ScanInputError as exc:
        raise _fail(exc, 2) from exc
    if any(r.failed for r in results):
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()
