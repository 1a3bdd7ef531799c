# The scoring service image: features + models + service; the training code ships in the same
# distribution but is never imported by the server. The same image runs `mlflow server` (the pinned MLflow,
# with the PostgreSQL driver) and the one-off commands (`recoup bootstrap`, `recoup promote`) in compose.yaml.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 recoup
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY features ./features
COPY models ./models
COPY training ./training
COPY service ./service
RUN pip install -c constraints.txt '.[postgres]'

# Everything a container writes goes under /data (a volume, owned by the service user): the compiled trees,
# the default SQLite store, MLflow's artifact downloads. Model artifacts never live at host paths: they
# come from the tracking server (`mlflow server --serve-artifacts`), which keeps them in its own volume.
RUN mkdir -p /data/tmp /data/trees && chown -R recoup:recoup /data
VOLUME /data
USER recoup
WORKDIR /data
# The model comes from the MLflow registry: set MLFLOW_TRACKING_URI (a PostgreSQL-backed `mlflow server` in
# production), RECOUP_STORE_URI (the PostgreSQL store every replica shares) and, with auth, RECOUP_API_KEYS.
ENV RECOUP_MODEL_URI=models:/recoup@champion \
    RECOUP_COMPILED_TREES_DIR=/data/trees \
    RECOUP_STORE_URI=sqlite:////data/recoup-store.db \
    TMPDIR=/data/tmp
EXPOSE 8000
# Ready = a model is loaded. The first start of a model version downloads it and compiles its trees
# (30-60 s on two cores), hence the start period; until then /readyz answers 503.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
CMD ["recoup", "serve", "--host", "0.0.0.0", "--port", "8000"]
