"""The route class every route relies on: JSON bodies with exact numbers, and strict query strings.

Requests are parsed with `parse_float=Decimal` (app.core.json.loads); a body that is not JSON where JSON
is read is a 415, and a query parameter the route does not take is a 422.
"""

import json
from collections import abc
from collections.abc import Callable, Coroutine
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import APIRouter, Request
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.core import prepared
from app.core.config import get_settings
from app.core.json import loads


class DecimalJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                document = loads(body, max_depth=get_settings().max_json_depth)
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError("body is not UTF-8", "", exc.start) from exc
            except ValueError as exc:
                if isinstance(exc, json.JSONDecodeError):
                    raise
                raise json.JSONDecodeError(str(exc), "", 0) from exc
            if b"\\u0000" in body:  # JSON holds a NUL only escaped; PostgreSQL cannot store one
                where = nul_path(document)
                if where is not None:
                    raise NulInJSON(where, body.find(b"\\u0000"))
            self._json = document
        return self._json


class NulInJSON(json.JSONDecodeError):
    """A JSON text holding a NUL character, and where: the route names that field (DecimalRoute)."""

    def __init__(self, where: tuple[str | int, ...], position: int) -> None:
        shown = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
        super().__init__(f"the text at {shown or 'the top'} holds a NUL character (\\u0000)", "", position)
        self.where = where


def nul_path(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in a parsed JSON document a text holds a NUL character (keys and indexes), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, str(key))
            if "\x00" in key:
                return here
            found = nul_path(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, (*path, index))
            if found is not None:
                return found
    return None


def is_json_media_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return "transfer-encoding" in request.headers or (length is not None and length.strip() not in ("", "0"))


def _takes_many(annotation: Any) -> bool:
    """Whether a parameter's type is a list (`?indicator=a&indicator=b`), Optional or not."""
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset, abc.Sequence):
        return True
    if origin is Annotated:
        return _takes_many(get_args(annotation)[0])
    return origin in (Union, UnionType) and any(_takes_many(arg) for arg in get_args(annotation))


def _query_names(dependant: Dependant) -> dict[str, bool]:
    """Every query parameter the route and its dependencies declare (a Query model gives its fields),
    and whether it may be given more than once."""
    names: dict[str, bool] = {}
    stack = [dependant]
    while stack:
        current = stack.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                for name, info in model.model_fields.items():
                    names[info.alias or name] = _takes_many(info.annotation)
            else:
                names[field.alias] = _takes_many(model)
        stack.extend(current.dependencies)
    return names


def _as_included(route: APIRoute) -> Any:
    """The route as the router including it builds its handler: FastAPI (0.16x) builds one per
    inclusion, with the including router's dependencies and the app's dependency overrides, and says
    which while get_route_handler runs. The route itself where FastAPI says nothing."""
    current = getattr(fastapi_routing, "_effective_route_context_var", None)
    context = current.get() if current is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return context
    return route


class DecimalRoute(APIRoute):
    """A route whose JSON body keeps numbers exact, refusing a body that is not JSON (415) and
    query parameters it does not take (422: `?yaer=2021` must not quietly return every year)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        # A route with a body model reads JSON only; routes taking CSV or sheets read the request
        # themselves and have no body model.
        json_only = self.body_field is not None
        known = _query_names(self.dependant)
        # A route's parameters, body and dependencies solved by a plan made once (app.core.prepared).
        effective = _as_included(self)
        plan = prepared.plan_for(self.methods, effective.dependant, effective.dependency_overrides_provider)

        async def route_handler(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if json_only and _has_body(request) and not is_json_media_type(content_type):
                # Starlette's HTTPException: app.core.problems imports this module, so no typed error here.
                raise HTTPException(
                    415,
                    detail=f"This operation reads application/json, not {content_type or 'an untyped body'}",
                )
            nul = [("query", k) for k, v in request.query_params.multi_items() if "\x00" in k + v]
            nul += [("path", k) for k, v in request.path_params.items() if "\x00" in str(v)]
            if nul:
                raise RequestValidationError(
                    [
                        {"type": "string_nul", "loc": loc, "msg": "must not hold a NUL character"}
                        for loc in nul
                    ]
                )
            repeated = [
                name
                for name, many in known.items()
                if not many and len(request.query_params.getlist(name)) > 1
            ]
            if repeated:
                raise RequestValidationError(
                    [
                        {
                            "type": "repeated",
                            "loc": ("query", name),
                            "msg": "given more than once; it takes one value",
                        }
                        for name in repeated
                    ]
                )
            unknown = [name for name in request.query_params if name not in known]
            if unknown:
                takes = ", ".join(sorted(known)) or "none"
                raise RequestValidationError(
                    [
                        {
                            "type": "extra_forbidden",
                            "loc": ("query", name),
                            "msg": f"unknown; this takes {takes}",
                        }
                        for name in dict.fromkeys(unknown)
                    ]
                )
            # One request object for the plan and FastAPI's way: a body the plan read (and refused)
            # is kept on it for FastAPI to read again.
            decimal_request = DecimalJSONRequest(request.scope, request.receive)
            if plan is not None and (not json_only or _has_body(request)):  # no body: FastAPI's 422
                response = await prepared.answer(plan, decimal_request)
                if response is not None:
                    return response
            try:
                return await handler(decimal_request)
            except RequestValidationError as exc:
                # FastAPI names a JSON decoding error by its position in the body; a NUL in a text
                # is named by its field, as any other refused text is.
                if isinstance(exc.__cause__, NulInJSON):
                    where = exc.__cause__.where
                    raise RequestValidationError(
                        [
                            {
                                "type": "string_nul",
                                "loc": ("body", *where),
                                "msg": "must not hold a NUL character",
                            }
                        ]
                    ) from None
                raise

        return route_handler


def api_router(prefix: str, tag: str) -> APIRouter:
    """A router under /api/v1 whose routes are DecimalRoutes."""
    return APIRouter(prefix=f"/api/v1{prefix}", tags=[tag], route_class=DecimalRoute)
