"""``deepfake review list|show|label``: a person works through the review queue (:mod:`.review`).

Registered in :mod:`.cli` as the ``review`` group; a :class:`review.ReviewError` (unknown id, bad
label) is one ``error:`` line and exit code 2 like every project error."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deepfake_detect.cli.common import ParamsOpt, load

review_app = typer.Typer(
    help="Review queue: the face crops of served requests that need a person (serve.review), and their labels "
    "(written to data.feedback_dir, the pipeline's second source).",
    no_args_is_help=True,
)


@review_app.command("list")
def list_items(
    every: Annotated[bool, typer.Option("--all", help="Also the items already labelled.")] = False,
    params: ParamsOpt = None,
) -> None:
    """The kept requests waiting for a label, oldest first: id, time, why kept, P(FAKE), model, crops."""
    from deepfake_detect.scoring.names import printable
    from deepfake_detect.scoring.review import ReviewQueue

    queue = ReviewQueue(load(params))
    items = queue.items()
    waiting = [i for i in items if i.label is None]
    for i in items if every else waiting:
        typer.echo(
            f"{i.id}  {i.time}  {i.reason:<6}  P(FAKE) {i.score:.3f} (threshold {i.threshold:.3f})  "
            f"{printable(i.model_tag)}  {len(i.crops)} crop(s)  {printable(i.file)}"
            + (f"  labelled {i.label}" if i.label else "")
        )
    typer.echo(f"{len(waiting)} waiting for a label, {len(items) - len(waiting)} labelled ({printable(queue.dir)})")


@review_app.command("show")
def show(
    item_id: Annotated[str, typer.Argument(help="A review item id (or a unique start of one).")],
    params: ParamsOpt = None,
) -> None:
    """One item as JSON: its request-log id, file, score, threshold, model tag, time, and each crop's path."""
    from deepfake_detect.scoring.review import ReviewQueue

    queue = ReviewQueue(load(params))
    item = queue.get(item_id)
    out = item.model_dump(mode="json")
    for crop, entry in zip(item.crops, out["crops"], strict=True):
        entry["path"] = str(queue.crop_path(item, crop))
    typer.echo(json.dumps(out, indent=2))


@review_app.command("label")
def label(
    item_id: Annotated[str, typer.Argument(help="A review item id (or a unique start of one).")],
    verdict: Annotated[str, typer.Argument(metavar="REAL|FAKE", help="What a person says the request shows.")],
    note: Annotated[str | None, typer.Option("--note", help="Why (kept with the label in metadata.csv).")] = None,
    params: ParamsOpt = None,
) -> None:
    """Label an item: its crops join the feedback dataset (data.feedback_dir, deepfake-faces layout, the
    request as the group); labelling again replaces the earlier label. Then `dvc repro feedback` versions
    that folder."""
    from deepfake_detect.scoring.feedback import label_item

    p = load(params)
    item = label_item(p, item_id, verdict, note)
    typer.echo(f"{item.id}: {item.label}, {len(item.crops)} crop(s) in {p.data.feedback_dir}")


@review_app.command("status")
def status(params: ParamsOpt = None) -> None:
    """One JSON line: requests waiting for a label, labelled crops, and how many of those were labelled after
    the served model was promoted (the retrain DAG retrains on drift only when there are some)."""
    from deepfake_detect.scoring.feedback import label_status

    typer.echo(label_status(load(params)).model_dump_json())
