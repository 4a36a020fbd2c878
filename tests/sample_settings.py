"""A settings module, loaded by dotted path in the settings tests."""

import os

DEBUG = False
SECRET_KEY = "module-secret-key-for-tests-only-0123456789"
MIDDLEWARES = [
    "tests.sample_middlewares.KwargsMiddleware",
    {"class": "tests.sample_middlewares.HeaderMiddleware", "params": {"header": "X-From-Module"}},
]
APP_CUSTOM_HEADER = "from-module"
helper_value = "lower-case names are not settings"
_PRIVATE = os.sep
