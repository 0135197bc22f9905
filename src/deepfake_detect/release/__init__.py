"""Releases: the evaluation metrics and their contract, and the gate a candidate model must pass.

Imports :mod:`deepfake_detect.models`, :mod:`deepfake_detect.data` and the base modules; never
:mod:`deepfake_detect.scoring` or serving.
"""
