# sendiass-bot: one image for the mail daemon (`run`) and the web UI (`web`).
# Build: docker build -t sendiass-bot .   Run with PostgreSQL: docker compose up -d (compose.yaml)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A dedicated user without a login shell; its home holds var/ (the volume).
RUN groupadd --system --gid 10001 sendiass \
 && useradd --system --uid 10001 --gid sendiass --home-dir /var/lib/sendiass \
        --shell /usr/sbin/nologin sendiass

# The package, installed (not editable): the code, the migrations, the classifier's rules and
# model, and the procedures and letter templates (setup.py ships config/ and templates/ inside
# the package, so the image needs no checkout).
WORKDIR /build
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY bot ./bot
COPY classifiers ./classifiers
COPY config ./config
COPY templates ./templates
RUN pip install . && cd / && rm -rf /build

RUN install -d -o sendiass -g sendiass -m 0700 /var/lib/sendiass /var/lib/sendiass/var
WORKDIR /var/lib/sendiass
USER sendiass

# Fail the build if the templates or service files do not load, or the model does not.
RUN sendiass-bot --help > /dev/null \
 && python -c "from bot.services import load_services; from bot.letters.render import renderer_for; renderer_for().check(load_services().values())" \
 && python -c "from classifiers import classify"

VOLUME ["/var/lib/sendiass/var"]
EXPOSE 8080

ENTRYPOINT ["sendiass-bot", "--config", "/etc/sendiass/sendiass.toml"]
CMD ["run"]
