"""Media in: probe, check and decode uploads and clips; frame sampling; image reading and size/pixel budgets.

The bottom layer: it imports only :mod:`deepfake_detect.config`, :mod:`deepfake_detect.errors` and
:mod:`deepfake_detect.contracts`.

  video     clip probing, evenly spaced indices, the plain forward decode (PyAV), clip writing
  sampler   the one frame sampler of serving, extract and drift: decodes only what is scored, checks every decoded frame
  checks    upload checks (size, container, duration, pixels), the per-request deadline and pixel budget
  images    reading images safely, per-crop image statistics, resizing crops to a model's input
"""
