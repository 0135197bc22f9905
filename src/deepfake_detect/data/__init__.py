"""Data: source layouts (DFDC videos, Kaggle deepfake-faces, feedback labels), the embedded sample,
the manifest contract and the Kaggle download.

Imports :mod:`deepfake_detect.faces`, :mod:`deepfake_detect.media` and the base modules only.
"""
