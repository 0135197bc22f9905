"""Faces: detectors (BlazeFace, MTCNN, Haar), the face box and crop geometry, framing, tracks (people).

Imports :mod:`deepfake_detect.media` and the base modules only. The same code turns a frame into a
face crop for training (extract), serving and monitoring.

  box        the face box, crop windows and the canvas a tight crop is searched on
  detect     the detectors behind one protocol, and batched face finding
  blazeface  BlazeFace full-range on TFLite (the default detector)
  framing    how tightly a crop frames its face (training crops' margin -> serving crops)
  tracks     linking faces frame to frame into people
  clip       frames -> faces -> crops -> people, the one path extract, serving and drift share
"""
