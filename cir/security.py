"""The secret key production refuses (imported by the production settings, so it imports
nothing of Django's that needs settings)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

#: the SECRET_KEY of .env.example and of development: never good enough for production
PLACEHOLDER_SECRET_KEYS = frozenset(
    {"change-me-to-a-long-random-string", "cir-insecure-development-key-change-me"}
)
#: Django's own deploy check asks for at least 50 characters
MIN_SECRET_KEY_LENGTH = 50


def require_production_secret_key(key: str | None) -> str:
    """`key` when it is fit for production; ImproperlyConfigured (with what to do) when it
    is empty, short, or a documented placeholder."""
    how = (
        "Set SECRET_KEY to a long random string, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )
    if not key or not key.strip():
        raise ImproperlyConfigured(f"SECRET_KEY is empty. {how}")
    if key in PLACEHOLDER_SECRET_KEYS or key.startswith(("change-me", "django-insecure")):
        raise ImproperlyConfigured(f"SECRET_KEY is the placeholder from the examples. {how}")
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
        raise ImproperlyConfigured(
            f"SECRET_KEY is too short or too simple (at least {MIN_SECRET_KEY_LENGTH} "
            f"characters, not one repeated). {how}"
        )
    return key
