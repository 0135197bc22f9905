"""The pipeline: one thin module per DVC stage (extract, validate, clean, balance, train, evaluate,
promote), the report that ends ``make demo``, and the helpers the Airflow DAGs call.

The top layer beside :mod:`deepfake_detect.cli`: it may import every subpackage except
:mod:`deepfake_detect.scoring` and :mod:`deepfake_detect.monitoring` (training never imports serving code).
"""
