"""Sentry's transaction named after the matched route, when sentry-sdk is in use.

sentry-sdk's WSGI middleware names every transaction "generic WSGI request" and
leaves the real name to the framework, as its Flask integration does from
``url_rule``. No dependency: the dispatcher looks the SDK up in
:data:`sys.modules` and calls this only when it is there, so an app that never
imported it pays one dictionary lookup per request.
"""

from __future__ import annotations

from types import ModuleType


def name_transaction(sdk: ModuleType, rule: str) -> None:
    """Name the request's Sentry transaction ``rule`` (``/users/<int:id>``), source "route".

    Only inside a transaction, that is under ``SentryWsgiMiddleware``: it gives each
    request its own scope. Without it the scope is the thread's, and the name of
    the last route would stick to events sent outside any request.
    """
    # Scope.get_current_scope is sentry-sdk 2's (2.0 has no sentry_sdk.get_current_scope
    # yet); 1.x has neither, and gets no name rather than a failing request.
    current_scope = getattr(sdk.Scope, "get_current_scope", None)
    if current_scope is None:
        return
    scope = current_scope()
    if scope.transaction is not None:
        scope.set_transaction_name(rule, source="route")
