"""Names are data, never terminal control.

An upload's name comes from the client: :func:`clean_name` is what the service and the scorer store
(request log, review queue, answers), with every control, format and separator character removed (ESC,
newline, bidi overrides...). :func:`printable` is what a CLI table prints of any name or path, stored
before this rule or read from disk: each such character shown as its escape (``\\x1b``, ``\\n``), so a
name can neither move the cursor, clear the screen nor forge a line of the table.
"""

from __future__ import annotations

import unicodedata

UNNAMED = "upload"


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")


def clean_name(name: str) -> str:
    """``name`` without control characters (``"upload"`` when nothing is left)."""
    cleaned = "".join(ch for ch in name if not _is_control(ch)).strip()
    return cleaned or UNNAMED


def printable(text: object) -> str:
    """``str(text)`` with each control character written as its Python escape."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if _is_control(ch) else ch for ch in str(text))
