"""Scoring: uploads -> faces -> P(FAKE) per face, person, frame and clip (the scorer the BentoML service
and ``deepfake score`` share), the typed answers, the request log, the review queue and its labels.

Imports :mod:`deepfake_detect.models`, :mod:`deepfake_detect.faces`, :mod:`deepfake_detect.media`,
:mod:`deepfake_detect.data` and the base modules. The BentoML services themselves stay thin in the
top-level ``serving/`` folder.

  scorer            the Scorer: one scoring path for the service and the CLI
  uploads           upload -> frames -> faces, decode overlapped with detection
  answers, result   the typed score result (ScoreResult) and how it is built
  requestlog        one JSON line per scored face (monitoring reads it)
  review, feedback  the review queue and the labels that become the feedback dataset
  scan              ``deepfake score``: the CLI scanner over files and folders
  names             upload names stored without control characters, and printed escaped
  service_process   starting and stopping a real ``bentoml serve`` (tests, benchmarks)
"""
