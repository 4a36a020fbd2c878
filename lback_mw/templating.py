"""The ``template_renderer`` dependency: Jinja2 over ``TEMPLATE_DIRS``, autoescaped."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import ImproperlyConfigured
from .wrappers import Response

if TYPE_CHECKING:
    import jinja2


class TemplateRenderer:
    """Renders templates found in ``directories``; HTML is always escaped.

    :attr:`globals` is where middleware put template helpers (``csrf_token``).
    """

    def __init__(self, directories: Sequence[Path]) -> None:
        # Checked here, when create_app resolves the renderer: a wrong TEMPLATE_DIRS
        # stops the start-up, not the first page.
        missing = [str(path) for path in directories if not path.is_dir()]
        if missing:
            raise ImproperlyConfigured(
                f"TEMPLATE_DIRS names directories that do not exist: {', '.join(missing)}. "
                "Relative entries are taken from BASE_DIR."
            )
        self.directories = list(directories)
        #: What every template sees besides its context. The environment, once
        #: built, uses this same dict, with Jinja2's own (``range``, ``dict``...)
        #: added where a helper does not take the name.
        self.globals: dict[str, Any] = {}

    @cached_property
    def environment(self) -> jinja2.Environment:
        """The Jinja2 environment, built by the first render."""
        # PERF: Jinja2 is imported here, not by create_app: about 15 ms and 1.6 MB of
        # peak RSS of every start-up of the example project (bench/startup.py's
        # snippet, interleaved); a process that renders nothing (lback-mw check,
        # routes, a worker before its first page) does not pay it.
        import jinja2

        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directories),
            autoescape=True,
        )
        # Swapped before any template is loaded: a template keeps the dict it saw.
        for name, value in environment.globals.items():
            self.globals.setdefault(name, value)
        environment.globals = self.globals
        return environment

    def render(self, name: str, /, **context: Any) -> str:
        """Render template ``name`` with ``context`` to a string."""
        environment = self.environment
        from jinja2 import TemplateNotFound  # imported by the environment above

        try:
            template = environment.get_template(name)
        except TemplateNotFound as exc:
            searched = ", ".join(map(str, self.directories)) or "nothing (TEMPLATE_DIRS is empty)"
            raise TemplateNotFound(
                exc.name or name, f"Template {name!r} not found; searched {searched}."
            ) from exc
        return template.render(**context)

    def render_response(self, name: str, /, status: int = 200, **context: Any) -> Response:
        """Render template ``name`` into an HTML :class:`~lback_mw.Response`."""
        return Response(self.render(name, **context), status=status)
