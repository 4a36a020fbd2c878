"""The ``template_renderer`` dependency: Jinja2 over ``TEMPLATE_DIRS``, autoescaped."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2

from .exceptions import ImproperlyConfigured
from .wrappers import Response


class TemplateRenderer:
    """Renders templates found in ``directories``; HTML is always escaped.

    :attr:`globals` is where middleware put template helpers (``csrf_token``).
    """

    def __init__(self, directories: Sequence[Path]) -> None:
        missing = [str(path) for path in directories if not path.is_dir()]
        if missing:
            raise ImproperlyConfigured(
                f"TEMPLATE_DIRS names directories that do not exist: {', '.join(missing)}. "
                "Relative entries are taken from BASE_DIR."
            )
        self.directories = list(directories)
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directories),
            autoescape=True,
        )
        self.globals = self.environment.globals

    def render(self, name: str, /, **context: Any) -> str:
        """Render template ``name`` with ``context`` to a string."""
        try:
            template = self.environment.get_template(name)
        except jinja2.TemplateNotFound as exc:
            searched = ", ".join(map(str, self.directories)) or "nothing (TEMPLATE_DIRS is empty)"
            raise jinja2.TemplateNotFound(
                exc.name or name, f"Template {name!r} not found; searched {searched}."
            ) from exc
        return template.render(**context)

    def render_response(self, name: str, /, status: int = 200, **context: Any) -> Response:
        """Render template ``name`` into an HTML :class:`~lback_mw.Response`."""
        return Response(self.render(name, **context), status=status)
