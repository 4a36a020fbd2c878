"""Cold start-up: a new Python process that builds an app, against Django and Falcon.

Each case is a ``python -c`` snippet run in a fresh interpreter from the
repository root. The wall time covers the whole process (interpreter start,
imports, building the app, exit), the memory is the process's peak RSS as the
kernel reports it to ``wait4``. The cases take turns round by round, and every
figure is the median over the rounds of a ratio computed within one round, so a
slow phase of a shared machine slows every case of that round alike. An untimed
round first writes the bytecode of the repository's own modules, and the cases
run without ``PYTHONDONTWRITEBYTECODE``: pip compiled every installed package
when it installed it, so only lback_mw (an editable install) and the example
project would otherwise be compiled from source in each run.

What the targets compare against (issue 12): Django doing the same job. The
lback_mw case builds an app that can serve (two HTTP middleware, a route), so
its denominator is a servable Django app too, built by
``get_wsgi_application()``, which loads the middleware as lback_mw's
``create_app`` does:

- ``django``: SecurityMiddleware, ``ALLOWED_HOSTS``, a URLconf with one view;
  no database, no templates. The denominator of the lback_mw case.
- ``django_project`` (``bench/django_project``): Django's equivalent of the
  example project, an app with a model (a foreign key to the user), templates,
  signed-cookie sessions, CSRF, auth, CORS and gzip. The denominator of the
  example project, which does more before its first request: its ``db_session``
  factory creates the tables and, in DEBUG, looks up its demo user, where
  Django opens no connection until a request needs one.

Two floors, without targets, show what no change inside lback_mw can go
below: ``floor``, werkzeug and pydantic-settings imported and a ``BaseSettings``
built (what lback_mw is made of), and ``example_floor``, the lback_mw case with
SQLAlchemy's ORM and SQLite dialect imported (what the example project's models
and its tables, created at start-up, need).

Each Django case also imports its URLconf (``get_resolver().url_patterns``),
which Django itself would import on the first request: lback_mw imports its
routes when the app is built. ``django.setup()`` with minimal settings, the
earlier denominator, is still printed with its ratios, without a target. It
turns out to cost about as much as the servable app: with Django 5.2 it already
imports ``django.http`` (through ``set_script_prefix`` and ``django.urls``,
and ``django.http`` pulls in the ORM's fields through the serializers), so the
servable app adds only the WSGI handler and its middleware.

Run from the repository root::

    python bench/startup.py            # ~30 s on an idle machine: 11 rounds of the 8 cases
    python bench/startup.py --rounds 3 # a smoke run
    python bench/startup.py --check    # exit status 1 if a target is missed

Profile a case with ``python -X importtime -c "<snippet>"`` (``--show`` prints
the snippets).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as ``python bench/startup.py``: make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.runner import environment

ROOT = Path(__file__).resolve().parent.parent
#: Printed by every snippet once its app is built, so a broken case cannot pass as fast.
READY = "ready"


@dataclass(frozen=True)
class Case:
    key: str
    description: str
    code: str
    #: Run after ``code`` by the tests only (never timed): proves the case built an
    #: app that serves, so a denominator cannot quietly stop doing the work.
    probe: str = ""


#: The probe of every case that builds a WSGI app named ``app``.
ANSWERS_200 = (
    "from werkzeug.test import Client\n"
    "response = Client(app).get('/', base_url='http://localhost/')\n"
    "assert response.status_code == 200, response.status\n"
)

#: The lback_mw case: two HTTP built-ins and a route, no database, no templates.
LBACK_APP = (
    "import lback_mw\n"
    "app = lback_mw.create_app({'SECRET_KEY': 'startup-bench-secret-key-0123456789-abcdef',\n"
    " 'ALLOWED_HOSTS': ['localhost'],\n"
    " 'MIDDLEWARES': ['lback_mw.middlewares.SecurityHeadersMiddleware',\n"
    "                 'lback_mw.middlewares.TrustedHostMiddleware']})\n"
    "app.route('/')(lambda request: 'hello')\n"
    "print('ready')"
)

#: How both Django cases end: the WSGI handler (which loads the middleware, as
#: create_app does) and the URLconf, imported now as lback_mw imports its routes.
DJANGO_SERVABLE = (
    "from django.core.wsgi import get_wsgi_application\n"
    "from django.urls import get_resolver\n"
    "app = get_wsgi_application()\n"
    "get_resolver().url_patterns\n"
    "print('ready')"
)

CASES = (
    Case(
        "lback",
        "lback_mw: create_app, HTTP middleware, no DB or templates",
        LBACK_APP,
        ANSWERS_200,
    ),
    Case(
        "example",
        "lback_mw: the example project (DB, templates, sessions)",
        "import lback_mw\napp = lback_mw.create_app('example_project.settings')\nprint('ready')",
        ANSWERS_200,
    ),
    Case(
        "example_floor",
        "lback_mw case + SQLAlchemy's ORM (the example's floor)",
        "import sqlalchemy.orm, sqlalchemy.dialects.sqlite\n" + LBACK_APP,
    ),
    Case(
        "floor",
        "werkzeug + pydantic-settings alone (lback_mw's floor)",
        "import werkzeug.wrappers, werkzeug.routing, pydantic_settings\n"
        "class Settings(pydantic_settings.BaseSettings):\n"
        "    DEBUG: bool = False\n"
        "Settings()\n"
        "print('ready')",
    ),
    Case(
        "django",
        "Django: get_wsgi_application(), SecurityMiddleware, a view",
        "from django.conf import settings\n"
        "from django.http import HttpResponse\n"
        "from django.urls import path\n"
        "urlpatterns = [path('', lambda request: HttpResponse('hello'))]\n"
        "settings.configure(DEBUG=False, SECRET_KEY='startup-bench-secret-key-0123456789-abcdef',\n"
        " ALLOWED_HOSTS=['localhost'], ROOT_URLCONF=__name__, INSTALLED_APPS=[],\n"
        " MIDDLEWARE=['django.middleware.security.SecurityMiddleware'])\n" + DJANGO_SERVABLE,
        ANSWERS_200,
    ),
    Case(
        "django_project",
        "Django's equivalent of the example (ORM, templates, auth)",
        "import os\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'bench.django_project.settings'\n"
        + DJANGO_SERVABLE,
        ANSWERS_200,
    ),
    Case(
        "django_setup",
        "django.setup(), minimal settings (a reference)",
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure(DEBUG=False, SECRET_KEY='startup-bench-secret-key-0123456789-abcdef',\n"
        " ALLOWED_HOSTS=['localhost'],\n"
        " ROOT_URLCONF=None, INSTALLED_APPS=[], MIDDLEWARE=[])\n"
        "django.setup()\n"
        "print('ready')",
    ),
    Case(
        "falcon",
        "falcon.App() with one resource",
        "import falcon\n"
        "class Hello:\n"
        "    def on_get(self, req, resp):\n"
        "        resp.text = 'hello'\n"
        "app = falcon.App()\n"
        "app.add_route('/', Hello())\n"
        "print('ready')",
        ANSWERS_200,
    ),
)

#: (label, numerator, denominator, measure, target): medians of per-round ratios.
FIGURES = (
    ("lback_mw / django time", "lback", "django", "seconds", 1.0),
    ("lback_mw / django peak RSS", "lback", "django", "rss_mb", 1.0),
    ("example project / django's equivalent time", "example", "django_project", "seconds", 1.5),
    ("example project / django's equivalent peak RSS", "example", "django_project", "rss_mb", 1.5),
    ("lback_mw / django.setup() time", "lback", "django_setup", "seconds", None),
    ("lback_mw / django.setup() peak RSS", "lback", "django_setup", "rss_mb", None),
    ("floor / django time", "floor", "django", "seconds", None),
    (
        "example's floor / django's equivalent time",
        "example_floor",
        "django_project",
        "seconds",
        None,
    ),
    ("lback_mw / falcon time", "lback", "falcon", "seconds", None),
    ("lback_mw / falcon peak RSS", "lback", "falcon", "rss_mb", None),
)


#: Not passed on to the cases. With PYTHONDONTWRITEBYTECODE (set in some shells and CI
#: images) the repository's own modules, lback_mw and the example project, would be
#: compiled from source in every run (about 20 ms), while pip compiled Django's and
#: every other installed package's bytecode when it installed them.
_DROPPED_ENV = ("PYTHONDONTWRITEBYTECODE", "DJANGO_SETTINGS_MODULE")


def run_once(case: Case, *, probe: bool = False) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh interpreter running ``case``
    (and its :attr:`Case.probe` after it, for the tests)."""
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED_ENV}
    env = {key: value for key, value in env.items() if not key.startswith("LBACK_")}
    code = f"{case.code}\n{case.probe}" if probe else case.code
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    with process.stdout:
        output = process.stdout.read()
    # wait4, not wait(): it also returns the child's resource usage.
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or output.decode().strip() != READY:
        raise SystemExit(f"case {case.key!r} failed (exit {process.returncode}): {output!r}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports kilobytes


def measure(rounds: int) -> dict[str, dict[str, list[float]]]:
    """Every case once per round, in an order rotated each round, after one
    untimed round that writes the bytecode of the repository's modules."""
    results: dict[str, dict[str, list[float]]] = {
        case.key: {"seconds": [], "rss_mb": []} for case in CASES
    }
    for case in CASES:
        run_once(case)
    for index in range(rounds):
        shift = index % len(CASES)
        for case in CASES[shift:] + CASES[:shift]:
            seconds, rss = run_once(case)
            results[case.key]["seconds"].append(seconds)
            results[case.key]["rss_mb"].append(rss)
        print(f"round {index + 1}/{rounds} done", file=sys.stderr)
    return results


def figures(results: dict[str, dict[str, list[float]]]) -> list[dict[str, Any]]:
    out = []
    for label, top, bottom, unit, target in FIGURES:
        per_round = [a / b for a, b in zip(results[top][unit], results[bottom][unit], strict=True)]
        value = statistics.median(per_round)
        passed = None if target is None else value <= target
        out.append({"label": label, "value": round(value, 3), "target": target, "passed": passed})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11, help="runs of every case (11)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--show", action="store_true", help="print the snippets and exit")
    args = parser.parse_args(argv)
    if args.show:
        for case in CASES:
            print(f"# {case.key}: {case.description}\n{case.code}\n")
        return 0
    env = environment(["werkzeug", "pydantic", "pydantic-settings", "django", "falcon"])
    results = measure(args.rounds)
    derived = figures(results)
    if args.json:
        print(json.dumps({"environment": env, "results": results, "figures": derived}, indent=2))
    else:
        versions = ", ".join(f"{name} {ver}" for name, ver in env["versions"].items())
        load = ", ".join(f"{value:g}" for value in env["load_average"])
        print(f"Cold start-up, {args.rounds} interleaved rounds, medians")
        print(f"{env['date']} | {env['python']} | {env['cpus']} CPUs | load {load} | {versions}\n")
        print(f"{'case':<58} {'time':>8} {'peak RSS':>9}")
        for case in CASES:
            seconds = statistics.median(results[case.key]["seconds"])
            rss = statistics.median(results[case.key]["rss_mb"])
            print(f"{case.description:<58} {seconds:>7.3f}s {rss:>6.1f} MB")
        print(f"\n{'ratio (median of per-round ratios)':<58} {'value':>8}  target")
        for figure in derived:
            target = "" if figure["target"] is None else f"<= {figure['target']}"
            mark = {None: "", True: "PASS", False: "FAIL"}[figure["passed"]]
            print(f"{figure['label']:<58} {figure['value']:>7.3f}x  {target} {mark}")
    missed = [figure for figure in derived if figure["passed"] is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
