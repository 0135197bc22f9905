# The project image: Python 3.11, the package and every pinned dependency (constraints.txt).
# Used by the Airflow components (their tasks run `dvc`/`deepfake` in this same environment) and
# by the BentoML service. Build context: the repository root.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BENTOML_DO_NOT_TRACK=true DO_NOT_TRACK=1 DVC_NO_ANALYTICS=1 SCARF_ANALYTICS=false \
    GX_ANALYTICS_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 \
    DEEPFAKE_PROJECT_DIR=/opt/deepfake DEEPFAKE_VENV=/usr/local

RUN apt-get update && apt-get install -y --no-install-recommends git curl libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 deepfake

WORKDIR /opt/deepfake
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
RUN pip install -c constraints.txt ".[airflow]"
COPY . .
RUN chown -R deepfake /opt/deepfake
USER deepfake
