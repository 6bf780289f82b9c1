"""Service base class and the ``@action`` decorator every public service method wears.

``@action(Permission.X)`` runs the authorisation check before the body, and records the
action in ``ACTIONS`` so tests can walk every role × every action (property 31) and assert
that nothing runs without a session (property 30).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from cio_desktop.security.permissions import SENSITIVE, Permission
from cio_desktop.services.context import ServiceContext

F = TypeVar("F", bound=Callable[..., Any])

#: The default of a ``seen=`` argument (the version an editing screen showed): left out, the
#: save is not checked against a newer version — the CLI and file imports keep last-write-wins;
#: screens pass what they showed so that a save over another desk's change is refused (team mode).
UNCHECKED: Any = object()


@dataclass(frozen=True)
class ActionSpec:
    service: str
    method: str
    permission: Permission | None  # None: any authenticated user (self-service)
    mfa: bool
    description: str

    @property
    def name(self) -> str:
        return f"{self.service}.{self.method}"


ACTIONS: dict[str, ActionSpec] = {}


def action(permission: Permission | None, *, description: str, mfa: bool | None = None) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        service = fn.__qualname__.split(".")[0]
        spec = ActionSpec(service, fn.__name__, permission,
                          (permission in SENSITIVE) if mfa is None else mfa, description)
        ACTIONS[spec.name] = spec

        @functools.wraps(fn)
        def wrapper(self: "Service", *args: Any, **kwargs: Any) -> Any:
            self.ctx.authorize(permission, description, mfa=spec.mfa)
            return fn(self, *args, **kwargs)

        wrapper.__cio_action__ = spec  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


class Service:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
