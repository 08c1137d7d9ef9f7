"""Production settings: no default secret, HTTPS only, no debug."""

from cir.security import require_production_secret_key

from .base import *  # noqa: F403
from .base import env

DEBUG = False
CIR_PRODUCTION = True
# no default, and never the examples' placeholder or a short one: refuse to start
SECRET_KEY = require_production_secret_key(env.str("SECRET_KEY", default=""))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
# static files under names that carry their content's hash, so browsers and proxies keep
# them for a year (WhiteNoise marks them immutable); collectstatic writes the manifest
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# webhooks to private or loopback addresses only when the operator says so
CIR_WEBHOOK_ALLOW_PRIVATE = env.bool("CIR_WEBHOOK_ALLOW_PRIVATE", default=False)
