# CIR application image: web (gunicorn), worker and beat all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=cir.settings.production

WORKDIR /app
RUN useradd --create-home --uid 1000 cir
# the production lock: every package pinned, with the extras the worker needs
COPY requirements.txt .
RUN pip install --no-deps -r requirements.txt && pip check
COPY . .
# static files are collected at build time and served by WhiteNoise; production settings
# refuse a short or placeholder key even here, so the build uses a throwaway random one
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput
USER cir
EXPOSE 8000
# bind, workers and logging come from gunicorn.conf.py (GUNICORN_BIND, WEB_CONCURRENCY)
CMD ["gunicorn", "cir.wsgi"]
