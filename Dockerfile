# One image for every service of docker-compose.yml: the Dagster webserver and daemon, the API and the
# one-shot migration. Secrets are never baked in: they come from the environment at run time (.env).
#
#   docker build -t spotify-history .
#   docker run --rm spotify-history                      # prints the CLI's help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPOTIFY_HISTORY_HOME=/data \
    DAGSTER_HOME=/data/dagster \
    DBT_PROJECT_DIR=/app/dbt_project

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN mkdir -p orchestration mcp_api \
    && touch README.md orchestration/__init__.py mcp_api/__init__.py \
    && pip install -e . \
    && rm -rf orchestration mcp_api README.md

# The project itself. Editable, so the code runs from /app beside the files it uses from the source
# tree: workspace.yaml and dbt_project/ (dbt writes target/ and logs/ there, hence its owner).
COPY . .
# The dbt manifest the Dagster definitions are built from (loading them parses nothing).
RUN pip install --no-deps -e . \
    && spotify-history --version \
    && spotify-history prepare --no-database \
    && mkdir -p /data/dagster /data/inbox \
    && cp orchestration/dagster_home/dagster.yaml /data/dagster/dagster.yaml \
    && chown -R app:app /data /app/dbt_project

USER app
EXPOSE 3000 8000

# docker-compose.yml gives every service its own command; alone, the image explains itself.
CMD ["spotify-history", "--help"]
