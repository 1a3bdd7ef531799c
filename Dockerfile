# The scoring service image: features + models + service; the training code ships in the same
# distribution but is never imported by the server.
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

USER recoup
# The model comes from the MLflow registry: set MLFLOW_TRACKING_URI (PostgreSQL-backed server in
# production) and, when auth is on, RECOUP_API_KEYS. Replicas are stateless and share the registry.
ENV RECOUP_MODEL_URI=models:/recoup@champion
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["recoup", "serve", "--host", "0.0.0.0", "--port", "8000"]
