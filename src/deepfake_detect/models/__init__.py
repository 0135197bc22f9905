"""Model families: each module trains one family and writes a model folder that
:func:`deepfake_detect.models.predictor.load_predictor` can load."""

FAMILIES = ("baseline_cnn", "xception", "efficientnet_lite0", "sklearn_fft")
