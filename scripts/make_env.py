"""Write a compose ``.env`` from ``.env.example`` with every empty secret filled by a fresh random value
(``secrets.token_urlsafe``); values already given (user names, bucket) are kept. An existing file is
never replaced unless ``--force``. Usage: ``python scripts/make_env.py [.env] [--force]``."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def filled(example: str) -> str:
    out = []
    for line in example.splitlines():
        name, eq, value = line.partition("=")
        if eq and not line.lstrip().startswith("#") and not value.strip():
            line = f"{name}={secrets.token_urlsafe(32)}"
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    force = "--force" in argv
    target = Path(next((a for a in argv if a != "--force"), ".env"))
    if target.exists() and not force:
        print(f"{target}: exists; pass --force to replace it", file=sys.stderr)
        return 2
    target.write_text(filled(EXAMPLE.read_text()))
    target.chmod(0o600)
    print(f"{target}: written with fresh random secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
