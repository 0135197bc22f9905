"""What every ``deepfake`` command module shares: the ``--params`` option, loading params.yaml, reading a
time option, the ``error:`` line of a failure that is not a project error, and the logger."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

ParamsOpt = Annotated[Path | None, typer.Option("--params", help="params.yaml to use (default: ./params.yaml)")]
log = logging.getLogger("deepfake_detect")


def load(path: Path | None):
    """params.yaml (``--params``, else $DEEPFAKE_PARAMS or ./params.yaml) as typed params; a ConfigError
    is a project error: one ``error:`` line and exit code 2 (:class:`.main.KnownErrors`)."""
    from deepfake_detect.config import load_params

    return load_params(path)


def utc_option(value: str | None, name: str) -> datetime | None:
    """A ``--start`` / ``--end`` option as a time (UTC when it names no zone); not ISO-8601: one ``error:``
    line naming the option, exit code 2."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(ValueError(f"--{name}: not an ISO-8601 date/time: {value!r}"), 2) from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def fail(exc: Exception, code: int = 1) -> typer.Exit:
    """One red ``error:`` line on stderr, and the exit to raise: for the failures that are not a
    :class:`DeepfakeError` (those :class:`.main.KnownErrors` reports by itself)."""
    typer.secho(f"error: {exc}", fg="red", err=True)
    return typer.Exit(code)
