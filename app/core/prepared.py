"""A route's parameters, JSON body and dependencies, solved by a plan made once per route.

For every request FastAPI walks the route's dependency tree and works out again, parameter by
parameter, what kind each one is, where it is read from and whether it may repeat, before it validates
the value (about half the CPU of a 10-year series request, bench.inproc). The plan here takes those
answers once, when the route is built, and then takes FastAPI's own steps in FastAPI's order:

- each dependency is called once (FastAPI's cache), in the order FastAPI calls them, an `async def` on
  the event loop, a `def` in a worker thread (app.core.threads, where FastAPI takes anyio's), a
  generator entered on the request's own exit stacks by FastAPI's own helper, so that it ends when
  FastAPI would end it;
- each path and query parameter is validated by its own field, FastAPI's validator, from the same
  request key, with the same default.

A plan is made only for a route answering a Response whose tree holds nothing else: path and query
parameters by name, the `Request`, dependencies that are plain functions, and at most one JSON body,
the endpoint's own, a model not embedded (a PUT of one figure). Its body is read as FastAPI reads it
(app.core.routing.DecimalJSONRequest, on the request FastAPI is then given) and validated by its own
field. A request the plan cannot finish alone -- a parameter missing or refused, a body that is not
JSON or not valid (its 422 is FastAPI's to word), or a dependency overridden by one that takes
parameters -- goes FastAPI's whole way, before anything has run, and is answered exactly as before.
`prepared_requests` counts the requests a plan answered, for the tests to see that it does.
"""

import inspect
import json
from collections.abc import Awaitable, Callable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from fastapi import params
from fastapi._compat.shared import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _solve_generator, get_dependant
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.core.threads import in_thread

Endpoint = Callable[..., Any]
# The requests a plan answered, and those it handed to FastAPI, in this process (tests read them).
prepared_requests = {"planned": 0, "handed_on": 0}


class _HandOn(Exception):
    """This request takes FastAPI's own way (raised before any dependency has run)."""


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    alias: str
    many: bool  # a list: every value of a repeated key
    field: Any  # FastAPI's ModelField: its validator, default and required flag

    def value(self, source: Any) -> Any:
        if self.many:
            found = source.getlist(self.alias)
            if not found:
                return self.default()
            value = found
        else:
            value = source.get(self.alias)
            if value is None:
                return self.default()
        checked, errors = self.field.validate(value, {}, loc=())
        if errors:
            raise _HandOn
        return checked

    def default(self) -> Any:
        info = self.field.field_info
        if info.is_required() or info.validate_default:
            raise _HandOn
        return deepcopy(self.field.default)


@dataclass(frozen=True, slots=True)
class _Call:
    """One dependency: what FastAPI calls, under which name, and what it is given."""

    name: str | None
    dependant: Dependant
    call: Endpoint
    kind: str  # "async", "sync", "generator" (either kind: FastAPI's own helper enters it)


def _kind(call: Endpoint) -> str | None:
    if inspect.isasyncgenfunction(call) or inspect.isgeneratorfunction(call):
        return "generator"
    if inspect.iscoroutinefunction(call):
        return "async"
    if inspect.isfunction(call) or inspect.ismethod(call):
        return "sync"
    return None  # a class, a partial, an object with __call__: FastAPI's way


def _reads_body(dependant: Dependant) -> bool:
    """Whether the endpoint's body is one a plan reads: one JSON body, a model, not embedded (not a
    form, not several bodies, not an embedded one)."""
    if len(dependant.body_params) != 1:
        return False
    info = dependant.body_params[0].field_info
    model = info.annotation
    return (
        isinstance(info, params.Body)
        and not isinstance(info, params.Form)
        and not info.embed
        and info.validation_alias is None
        and isinstance(model, type)
        and issubclass(model, BaseModel)
    )


def _plannable(dependant: Dependant) -> bool:
    """Whether every node of the tree holds only what a plan solves (the endpoint's body: _reads_body)."""
    for node in (dependant, *_walk(dependant)):
        if (
            node.header_params
            or node.cookie_params
            or (node.body_params and (node is not dependant or not _reads_body(node)))
            or node.websocket_param_name
            or node.http_connection_param_name
            or node.response_param_name
            or node.background_tasks_param_name
            or node.security_scopes_param_name
            or node.own_oauth_scopes
            or node.concurrency is not None
        ):
            return False
        for field in (*node.path_params, *node.query_params):
            info = field.field_info
            if not isinstance(info, params.Path | params.Query) or info.validation_alias is not None:
                return False
            if isinstance(info.annotation, type) and hasattr(info.annotation, "model_fields"):
                return False  # a query model: FastAPI's way
        if node is not dependant and (not node.use_cache or node.call is None or _kind(node.call) is None):
            return False
    return True


def _walk(dependant: Dependant) -> list[Dependant]:
    found: list[Dependant] = []
    for sub in dependant.dependencies:
        found.extend(_walk(sub))
        found.append(sub)
    return found


@dataclass(slots=True)
class _Solving:
    """One request's solving: its arguments by node, the dependencies solved, the overrides."""

    request: Request
    arguments: dict[int, dict[str, Any]]
    cache: dict[Endpoint, Any]
    overrides: dict[Endpoint, Endpoint]


class Plan:
    """How to call one route's endpoint with its dependencies and parameters solved."""

    def __init__(self, dependant: Dependant, endpoint: Endpoint, overrides_provider: Any) -> None:
        self.dependant = dependant
        # The endpoint's JSON body's field (FastAPI's ModelField), or None.
        self.body: Any = dependant.body_params[0] if dependant.body_params else None
        self.overrides_provider = overrides_provider
        self.endpoint = endpoint
        self.endpoint_async = inspect.iscoroutinefunction(endpoint)
        self.nodes: dict[int, tuple[list[_Call], list[_Param], list[_Param], str | None]] = {}
        self._prepare(dependant)
        self.calls = [call.call for calls, _, _, _ in self.nodes.values() for call in calls]

    def _prepare(self, node: Dependant) -> None:
        if id(node) in self.nodes:
            return
        calls = []
        for sub in node.dependencies:
            self._prepare(sub)
            assert sub.call is not None  # _plannable
            calls.append(_Call(sub.name, sub, sub.call, _kind(sub.call) or "sync"))
        path = [self._param(f) for f in node.path_params]
        query = [self._param(f) for f in node.query_params]
        self.nodes[id(node)] = (calls, path, query, node.request_param_name)

    @staticmethod
    def _param(field: Any) -> _Param:
        return _Param(
            field.name, field.alias, field_annotation_is_sequence(field.field_info.annotation), field
        )

    async def __call__(self, request: Request) -> Response:
        """The endpoint's answer; _HandOn, before anything has run, when FastAPI must answer."""
        overrides = getattr(self.overrides_provider, "dependency_overrides", None) or {}
        if overrides:
            for call in self.calls:
                replacement = overrides.get(call)
                if replacement is not None and (
                    not _kind(replacement) or inspect.signature(replacement).parameters
                ):
                    raise _HandOn  # an override that takes parameters: FastAPI solves them
        # Every parameter of the tree first: a refused one hands the request on before anything runs.
        solving = _Solving(
            request, {key: self._parameters(key, request) for key in self.nodes}, {}, overrides
        )
        values = solving.arguments[id(self.dependant)]
        if self.body is not None:
            values[self.body.name] = await self._read_body(request)
        await self._solve(self.dependant, solving)
        if self.endpoint_async:
            result: Response = await self.endpoint(**values)
        else:
            result = await in_thread(self.endpoint, **values)
        return result

    async def _read_body(self, request: Request) -> Any:
        """The body, read and validated as FastAPI does (raises _HandOn for one it refuses). Called
        only for a request with a body, which app.core.routing has found to be JSON; `request` is the
        one FastAPI is given after, so that the body read here is read once."""
        try:
            document = await request.json()
        except json.JSONDecodeError:
            raise _HandOn from None  # FastAPI words the 422, from the body kept on the request
        except HTTPException:
            raise  # the body limit's 413 (app.core.limits), as FastAPI lets it through
        except Exception as exc:  # the client gone while it sent the body
            raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc
        if document is None:
            raise _HandOn
        checked, errors = self.body.validate(document, {}, loc=("body",))
        if errors:
            raise _HandOn
        return checked

    def _parameters(self, key: int, request: Request) -> dict[str, Any]:
        """A node's own path and query parameters, and the Request (raises _HandOn)."""
        _, path, query, request_name = self.nodes[key]
        values: dict[str, Any] = {}
        if path:
            path_params = request.path_params
            for param in path:
                values[param.name] = param.value(path_params)
        if query:
            query_params = request.query_params
            for param in query:
                values[param.name] = param.value(query_params)
        if request_name:
            values[request_name] = request
        return values

    async def _solve(self, node: Dependant, solving: "_Solving") -> None:
        """The node's dependencies, each solved once, into its arguments (FastAPI's order and cache)."""
        values, cache = solving.arguments[id(node)], solving.cache
        for sub in self.nodes[id(node)][0]:
            original = sub.call
            if original in cache:
                solved = cache[original]
            else:
                solved = await self._call(sub, solving)
                cache[original] = solved
            if sub.name is not None:
                values[sub.name] = solved

    async def _call(self, sub: _Call, solving: "_Solving") -> Any:
        dependant, call, kind, request = sub.dependant, sub.call, sub.kind, solving.request
        replacement = solving.overrides.get(call)
        if replacement is not None:
            # An override that takes nothing (a test's session or settings), called as FastAPI would.
            call, kind = replacement, _kind(replacement) or "sync"
            dependant = get_dependant(
                path=dependant.path or "", call=call, name=dependant.name, scope=dependant.scope
            )
            given: dict[str, Any] = {}
        else:
            await self._solve(dependant, solving)
            given = solving.arguments[id(dependant)]
        if kind == "generator":
            stack = request.scope[
                "fastapi_function_astack" if dependant.scope == "function" else "fastapi_inner_astack"
            ]
            return await _solve_generator(dependant=dependant, stack=stack, sub_values=given, request=request)
        if kind == "async":
            return await call(**given)
        return await in_thread(call, **given)


def plan_for(
    method_names: set[str] | None, dependant: Dependant, overrides_provider: Any
) -> Callable[[Request], Awaitable[Response]] | None:
    """A route's plan, or None when FastAPI's own way must serve it (module docstring)."""
    endpoint = dependant.call
    if not method_names or endpoint is None:
        return None
    answer = inspect.signature(endpoint).return_annotation
    if not (isinstance(answer, type) and issubclass(answer, Response)) or not _plannable(dependant):
        return None  # a route answering a model: FastAPI serializes it
    return Plan(dependant, endpoint, overrides_provider)


async def answer(plan: Callable[[Request], Awaitable[Response]], request: Request) -> Response | None:
    """The plan's answer, or None when the request must take FastAPI's way (nothing has run)."""
    try:
        response = await plan(request)
    except _HandOn:
        prepared_requests["handed_on"] += 1
        return None
    except BaseException:  # the endpoint's or a dependency's refusal (a 401, a 404): the plan's own
        prepared_requests["planned"] += 1
        raise
    prepared_requests["planned"] += 1
    return response
