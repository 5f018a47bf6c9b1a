"""Registering one endpoint for GET and HEAD as two routes, so each has its own
operation in /openapi.json (one route with two methods repeats its operation id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

F = TypeVar("F", bound=Callable[..., Any])


def get_and_head(router: APIRouter, path: str, **kwargs: Any) -> Callable[[F], F]:
    def register(endpoint: F) -> F:
        router.head(path, **kwargs)(endpoint)
        return router.get(path, **kwargs)(endpoint)
    return register
