"""``deepfake``: one command per pipeline stage and utility.

Every stage reads its settings from params.yaml (``--params`` or ``$DEEPFAKE_PARAMS`` to point
elsewhere); ``dvc repro`` calls these same commands. Run ``deepfake COMMAND --help`` for details.
The commands live by concern: :mod:`.data` (raw data and the data stages), :mod:`.models` (train to
promote), :mod:`.serve` (score, drift), :mod:`.review` (the review queue), :mod:`.evaluation` (eval live,
shadow); this module joins them
into one app and turns every project error into one line.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from typer.core import TyperGroup

from deepfake_detect.cli.common import fail
from deepfake_detect.cli.data import data_app, stages_app
from deepfake_detect.cli.evaluation import eval_app, shadow
from deepfake_detect.cli.models import models_app
from deepfake_detect.cli.review import review_app
from deepfake_detect.cli.serve import serve_app
from deepfake_detect.errors import DeepfakeError

for _var, _value in (
    ("BENTOML_DO_NOT_TRACK", "true"),
    ("DO_NOT_TRACK", "1"),
    ("DVC_NO_ANALYTICS", "1"),
    ("TF_CPP_MIN_LOG_LEVEL", "2"),
):
    os.environ.setdefault(_var, _value)


class KnownErrors(TyperGroup):
    """Every command: a project error (:class:`DeepfakeError`) is one ``error:`` line and its exit code
    (2, or what the error class says), not a traceback; any other exception is a bug and keeps its
    traceback. So a command catches only the builtin errors it turns into a message."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DeepfakeError as exc:
            raise fail(exc, exc.exit_code) from exc


app = typer.Typer(
    cls=KnownErrors,
    help="Deepfake-video detection platform: DFDC data → faces → validated, balanced splits → "
    "models → metrics → promoted detector → serving and drift monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(review_app, name="review")
app.add_typer(eval_app, name="eval")
for commands in (stages_app, models_app, serve_app):  # their commands join the top level
    app.add_typer(commands)
app.command("shadow")(shadow)


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


if __name__ == "__main__":  # pragma: no cover
    app()
