# The API as an image: PostgreSQL from INDICATORS_DATABASE_URL, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY seed ./seed
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    INDICATORS_DATABASE_URL=postgresql+psycopg://indicators@db/indicators
COPY --from=build /install /usr/local
COPY alembic.ini /srv/alembic.ini
RUN useradd --system --uid 10001 --home-dir /srv indicators && chown -R indicators /srv
WORKDIR /srv
USER indicators
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz'); sys.exit(0)"
CMD ["indicators", "serve", "--host", "0.0.0.0", "--port", "8000"]
