"""The project's one exception base class.

Every error the project raises on purpose (bad params, a missing input, data that cannot be split,
a model folder that cannot be loaded, a gate that fails, ...) subclasses :class:`DeepfakeError`,
usually beside a builtin (``ValueError``, ``RuntimeError``) that older callers may catch. The
``deepfake`` CLI turns any of them into one ``error: ...`` line and its ``exit_code`` (2, or 1 for a
failed gate; see :class:`deepfake_detect.cli.main.KnownErrors`); anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class DeepfakeError(Exception):
    """A known failure whose message says what is wrong and, where it can, what to do."""

    exit_code = 2
