# The BentoML service over the promoted model (serving/service.py). The model store is a volume
# (BENTOML_HOME) that the retrain DAG's promote step fills; the service loads deepfake-detector:latest.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BENTOML_DO_NOT_TRACK=true DO_NOT_TRACK=1 TF_CPP_MIN_LOG_LEVEL=2 BENTOML_HOME=/bentoml

RUN apt-get update && apt-get install -y --no-install-recommends curl libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 deepfake

WORKDIR /opt/deepfake
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN pip install -c constraints.txt .
COPY serving ./serving
COPY params.yaml ./
USER deepfake
EXPOSE 3000
CMD ["bentoml", "serve", "serving.service:DeepfakeDetector", "--host", "0.0.0.0", "--port", "3000"]
