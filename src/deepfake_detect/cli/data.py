"""``deepfake data …`` (the raw data: sample, feedback folder, downloads, layout) and the data stages of
dvc.yaml: ``extract``, ``validate``, ``clean``, ``balance``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deepfake_detect.cli.common import ParamsOpt, load, log

data_app = typer.Typer(help="Raw data: the embedded sample, Kaggle downloads, layout checks.", no_args_is_help=True)
stages_app = typer.Typer()


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
    from deepfake_detect.data.sample import generate_sample

    p = load(params)
    target = out or p.data.raw_dir
    if if_missing and target.is_dir() and any(target.iterdir()):
        log.info("%s already holds data; keeping it (--if-missing)", target)
        return
    generate_sample(target, p.sample, seed=p.seed, force=force)


@data_app.command("feedback")
def data_feedback(params: ParamsOpt = None) -> None:
    """Make the feedback folder (data.feedback_dir) when absent: the reviewers' labelled crops
    (`deepfake review label`), the pipeline's second source, empty until the first label.

    dvc.yaml's feedback stage runs it, so a fresh clone needs no folder of its own; the labels in it
    are kept as they are and versioned by `dvc repro` (or `dvc commit feedback`)."""
    folder = load(params).data.feedback_dir
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
    from deepfake_detect.data.download import download

    p = load(params)
    download(dataset, out or p.data.raw_dir)


@data_app.command("layout")
def data_layout(
    raw_dir: Annotated[Path | None, typer.Argument(help="Folder to inspect (default: data.raw_dir).")] = None,
    params: ParamsOpt = None,
) -> None:
    """Print which layout a raw folder has and what each of its parts (sources) holds."""
    from deepfake_detect.data.manifest import VIDEO_SOURCE
    from deepfake_detect.data.sources import detect_layout, list_clips, list_ready_crops, source_parts
    from deepfake_detect.scoring.names import printable

    p = load(params)
    folder = raw_dir or p.data.raw_dir
    typer.echo(f"{printable(folder)}: {detect_layout(folder)}")
    for part, where, layout in source_parts(folder):
        videos = layout == VIDEO_SOURCE
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


@stages_app.command()
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
    import json

    from deepfake_detect.pipeline import extract as stage

    p = load(params)
    if list_parts:
        typer.echo(json.dumps(stage.list_parts(p)))
        return
    stage.run_extract(p, part=part, merge_only=merge_only)


@stages_app.command()
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
    from deepfake_detect.pipeline.validate import run_validate

    run_validate(load(params), split=split)  # ValidationFailed: exit code 1


@stages_app.command()
def clean(params: ParamsOpt = None) -> None:
    """Drop unreadable, duplicate, too small, too dark/bright, too blurry or faceless crops, with reasons."""
    from deepfake_detect.pipeline.clean import run_clean

    run_clean(load(params))


@stages_app.command()
def balance(params: ParamsOpt = None) -> None:
    """Split train/val/test by group (stratified by label), then balance the training side."""
    from deepfake_detect.pipeline.balance import run_balance

    run_balance(load(params))
