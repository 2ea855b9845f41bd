"""The OpenAPI document and the docs page (served from an installed package: no outside network).

The document is made to tell the truth about errors, auth and conditional requests.

FastAPI documents a route's success answer and a 422 in its own JSON shape. Ours differ: every error
is application/problem+json; a token may be missing (401) or lack the right (403); a path may name
nothing (404); writes may be refused by If-Match (412); bodies may be too large or of the wrong type
(413, 415); and the database may be down (503). `install` rewrites the generated document once, from
what each route depends on and declares. A route declares what this module cannot infer, such as
`responses={409: {"description": "..."}}`; any 4xx/5xx it declares is given the Problem schema here.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.routing import APIRoute
from starlette.responses import HTMLResponse, Response
from starlette.routing import compile_path
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from app.auth.dependencies import REQUIRED_ROLES
from app.auth.models import Role
from app.core.problems import PROBLEM_JSON, problem_response

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; batch refusals add the import summary's fields.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "description": "/problems/{name}: GET it for what it means and what to do",
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    },
    "additionalProperties": True,
}

FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "type": "object",
    "required": ["loc", "msg"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
        "row": {"type": "integer"},
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "The cursor is not one this service gave out",
    401: "No token, or an unknown, revoked or expired one",
    403: "The token's role or department does not allow this",
    404: "Nothing at this path",
    406: "The asked-for format is not one this service writes",
    409: "The request conflicts with what is stored",
    412: "If-Match / If-None-Match did not hold; nothing was written",
    413: "The request body is larger than INDICATORS_MAX_UPLOAD_MB",
    415: "The request body is not of a type this operation reads",
    422: "A parameter or the body is invalid; `errors` names each field",
    503: "The database does not answer; retry later",
}

IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "Write only while the resource still has this ETag (412 otherwise)",
    "schema": {"type": "string"},
}
IF_NONE_MATCH_WRITE = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "`*`: write only if the resource does not exist yet (412 otherwise)",
    "schema": {"type": "string"},
}
IF_NONE_MATCH_READ = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "304 with no body when the resource still has one of these ETags",
    "schema": {"type": "string"},
}
ETAG_HEADER = {"description": "The version of the resource", "schema": {"type": "string"}}
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "A token from `indicators token create` or POST /api/v1/tokens",
}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependants(sub)


def required_role(route: APIRoute) -> Role | None:
    """The role the route's auth dependency demands; None for an open route."""
    roles = [REQUIRED_ROLES[d.call] for d in _dependants(route.dependant) if d.call in REQUIRED_ROLES]
    return max(roles, key=lambda r: r.level) if roles else None


def _problem(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }


def _add_parameter(op: dict[str, Any], parameter: dict[str, Any]) -> None:
    parameters = op.setdefault("parameters", [])
    names = {(p.get("in"), str(p.get("name", "")).lower()) for p in parameters}
    if (parameter["in"], parameter["name"].lower()) not in names:
        parameters.append(dict(parameter))


def _document_operation(
    route: APIRoute, path: str, method: str, op: dict[str, Any], public_read: bool
) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    for status, response in list(responses.items()):
        if status.isdigit() and int(status) >= 400:
            responses[status] = _problem(int(status), response.get("description"))

    def declare(status: int) -> None:
        responses.setdefault(str(status), _problem(status))

    parameters = op.get("parameters", [])
    path_params = [p for p in parameters if p.get("in") == "path"]
    if path.startswith("/api/v1"):
        declare(503)
    if any(p.get("name") == "cursor" and p.get("in") == "query" for p in parameters):
        declare(400)
    role = required_role(route)
    if role is not None:
        declare(401)
        responses["401"].setdefault("headers", {})["WWW-Authenticate"] = {
            "description": "Bearer",
            "schema": {"type": "string"},
        }
        if role.level > Role.viewer.level:
            declare(403)
        anonymous_ok = public_read and role is Role.viewer
        op["security"] = [{"bearer": []}, {}] if anonymous_ok else [{"bearer": []}]
    if path_params:
        declare(404)
    if parameters or "requestBody" in op:
        declare(422)
    if "requestBody" in op:
        declare(413)
        declare(415)
    if any(p.get("name") == "format" and p.get("in") == "query" for p in parameters):
        declare(406)
    single = path.endswith("}") and path_params
    if method == "GET" and single:
        _add_parameter(op, IF_NONE_MATCH_READ)
        responses.setdefault("304", {"description": "Not modified: the ETag still matches"})
        responses["200"].setdefault("headers", {})["ETag"] = ETAG_HEADER
    if method in ("PUT", "DELETE") and path.endswith("/{year}"):
        # The versioned cells (observations, targets) take optimistic locking on writes.
        _add_parameter(op, IF_MATCH)
        _add_parameter(op, IF_NONE_MATCH_WRITE)
        declare(412)
        for status in ("200", "201"):
            if status in responses:
                responses[status].setdefault("headers", {})["ETag"] = ETAG_HEADER


def _drop_unused_schemas(schema: dict[str, Any]) -> None:
    """FastAPI's own 422 schemas, once no answer refers to them any more."""
    components = schema["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        others = {k: v for k, v in components.items() if k != name}
        text = json.dumps([schema.get("paths", {}), others])
        if name in components and f'"#/components/schemas/{name}"' not in text:
            del components[name]


# Links from what an answer names to the operations that read, change or remove it (OpenAPI links):
# clients and stateful fuzzers (schemathesis) follow them from a create to its read.
_BODY = "$response.body#/"
_CELL = {"indicator": _BODY + "indicator", "department": _BODY + "department", "year": _BODY + "year"}
_PAIR = {"indicator": _BODY + "indicator", "department": _BODY + "department"}
_RW = ("get", "patch", "delete")
_OBSERVATION = "/api/v1/observations/{indicator}/{department}/{year}"
_TARGET = "/api/v1/targets/{indicator}/{department}/{year}"
_ASSIGNMENT = "/api/v1/assignments/{indicator}/{department}"
_APPROVAL = {"department": _BODY + "department", "year": _BODY + "year"}
LINKS: list[tuple[str, str, tuple[str, ...], dict[str, str]]] = [
    ("post /api/v1/departments", "/api/v1/departments/{code}", _RW, {"code": _BODY + "code"}),
    ("post /api/v1/indicators", "/api/v1/indicators/{code}", _RW, {"code": _BODY + "code"}),
    (
        "put /api/v1/observations/{indicator}/{department}/{year}",
        "/api/v1/observations/{indicator}/{department}/{year}",
        _RW,
        _CELL,
    ),
    (
        "put /api/v1/observations/{indicator}/{department}/{year}",
        "/api/v1/observations/{indicator}/{department}/{year}/history",
        ("get",),
        _CELL,
    ),
    (
        "put /api/v1/targets/{indicator}/{department}/{year}",
        "/api/v1/targets/{indicator}/{department}/{year}",
        _RW,
        _CELL,
    ),
    (
        "put /api/v1/assignments/{indicator}/{department}",
        "/api/v1/assignments/{indicator}/{department}",
        ("get", "delete"),
        _PAIR,
    ),
    ("put /api/v1/periods/{year}", "/api/v1/periods/{year}", ("get", "delete"), {"year": _BODY + "year"}),
    (
        "post /api/v1/approvals/{department}/{year}/{action}",
        "/api/v1/approvals/{department}/{year}",
        ("get",),
        {"department": _BODY + "department", "year": _BODY + "year"},
    ),
    ("post /api/v1/tokens", "/api/v1/tokens/{name}", ("delete",), {"name": _BODY + "name"}),
]


def _link(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for source, target, methods, parameters in LINKS:
        method, path = source.split(" ", 1)
        op = paths.get(path, {}).get(method)
        if op is None:
            continue
        for status, answer in op["responses"].items():
            if not status.startswith("2") or "content" not in answer:
                continue
            for target_method in methods:
                target_op = paths.get(target, {}).get(target_method)
                if target_op is None:
                    continue
                name = target_op["operationId"].split("_api_v1")[0].title().replace("_", "")
                answer.setdefault("links", {})[name] = {
                    "operationId": target_op["operationId"],
                    "parameters": parameters,
                }


def document(app: FastAPI, schema: dict[str, Any], *, public_read: bool = False) -> dict[str, Any]:
    """Rewrite FastAPI's generated document in place: problems, auth, conditional requests."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})
    components["schemas"]["Problem"] = PROBLEM_SCHEMA
    components["schemas"]["FieldError"] = FIELD_ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    # Included routers are walked as FastAPI's own generator walks them: by their effective routes.
    for context in routing.iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        path = str(context.path_format)
        for method in context.methods or ():
            op = schema.get("paths", {}).get(path, {}).get(method.lower())
            if op is not None:
                _document_operation(route, path, method, op, public_read)
    _drop_unused_schemas(schema)
    _link(schema)
    return schema


def allow_table(app: FastAPI) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each API path's pattern and the methods it takes (the dashboard asks it which exist)."""
    table: dict[str, set[str]] = {}
    for context in routing.iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.path:
            table.setdefault(context.path, set()).update(context.methods or ())
    return [(compile_path(path)[0], methods) for path, methods in table.items()]


def install(app: FastAPI, *, public_read: bool = False) -> None:
    """Serve the rewritten document at /openapi.json (built once, on first use), and answer 405s
    with an `Allow` header listing every method the document gives the path.

    Starlette's own 405 names only the methods of the first route matching the path, and FastAPI
    makes one route per method, so `Allow` would miss the others.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, generate(), public_read=public_read)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    allow: list[tuple[re.Pattern[str], set[str]]] = []

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        if not allow:
            allow.extend(allow_table(app))
        methods = sorted({m for pattern, ms in allow if pattern.match(request.url.path) for m in ms})
        header = ", ".join(methods)
        return problem_response(
            405,
            detail=f"{request.method} is not allowed here; this path takes {header or 'no method'}",
            slug="method-not-allowed",
            headers={"Allow": header},
        )

    app.add_exception_handler(405, method_not_allowed)


def install_docs(app: FastAPI) -> None:
    app.mount("/docs-static", StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Indicators API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon-32x32.png",
        )
