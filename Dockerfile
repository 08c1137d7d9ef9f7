# CIR application image: web (gunicorn), worker and beat all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=cir.settings.production

WORKDIR /app
RUN useradd --create-home --uid 1000 cir
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# static files are collected at build time and served by WhiteNoise
RUN SECRET_KEY=build-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput
USER cir
EXPOSE 8000
CMD ["gunicorn", "cir.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
