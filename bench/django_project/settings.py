"""Settings of the Django project the start-up benchmark builds (see ``__init__``)."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

# As the example project's: development settings.
DEBUG = True
SECRET_KEY = "startup-bench-secret-key-0123456789-abcdef"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "corsheaders",
    "bench.django_project",
]

# The example project's built-ins that Django or django-cors-headers ship, in
# the same order; Django has no counterpart of the metrics, request-id, access
# log, timing, rate-limit and static-files built-ins.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "bench.django_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    }
]

# Never created: nothing at start-up connects.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The example project's sessions are signed cookies too.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
CORS_ALLOWED_ORIGINS = ["http://localhost:3000"]
CSRF_TRUSTED_ORIGINS = ["http://localhost:3000"]
STATIC_URL = "/static/"
USE_TZ = True
