"""Monitoring: Evidently drift of production (the request log) against training (the val split).

Imports :mod:`deepfake_detect.scoring` (the request log), :mod:`deepfake_detect.models`,
:mod:`deepfake_detect.faces`, :mod:`deepfake_detect.media`, :mod:`deepfake_detect.data` and the base modules.

  drift    ``deepfake drift``: reference and current tables -> drift result + HTML report
  tables   building those tables from a split, a media folder or the request log
  verdict  the drift decision over the three signals (columns, embedding, prediction)
"""
