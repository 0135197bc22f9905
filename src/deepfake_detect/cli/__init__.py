"""The ``deepfake`` command: one Typer app over the pipeline, scoring, monitoring and review."""

from deepfake_detect.cli.main import app

__all__ = ["app"]
