"""The DAG tests' helpers (airflow_kit.py) importable from every test file here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
