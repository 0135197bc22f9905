"""Deepfake-video detection platform (DFDC): data pipeline, models, serving, monitoring."""

__version__ = "0.1.0"
