# One image for web (gunicorn + whitenoise), Celery worker and Celery beat; docker-compose.yml
# picks the command and runs migrations and collectstatic once (service migrate).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# PYTHONDONTWRITEBYTECODE stops imports writing bytecode, so compile the project once here:
# otherwise every web, worker and beat process compiles ~100 modules when it starts (the
# packages are the Makefile's APP_PACKAGES; the image has no make).
RUN python -m compileall -q meva trading ledger replay api

RUN useradd --create-home --uid 1000 meva \
    && mkdir -p /app/var /app/staticfiles \
    && chown -R meva:meva /app/var /app/staticfiles
USER meva

EXPOSE 8000

CMD ["gunicorn", "meva.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--timeout", "60", "--access-logfile", "-"]
