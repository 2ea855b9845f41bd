"""RFC 9457 problem details: the typed errors services raise, and the one renderer for all of them."""

from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.core.json import dumps
from app.core.problem_catalogue import BY_STATUS

PROBLEM_JSON = "application/problem+json"
# Each type is served by the service itself: GET /problems/{slug} says what it means and what to do
# (app.core.problem_pages). Relative, so that it resolves against whichever address served it.
TYPE_BASE = "/problems/"


class FieldError(dict[str, Any]):
    """One field error: `{"loc": [...], "msg": ..., "type": ...}`."""

    def __init__(self, loc: Sequence[str | int], msg: str, type: str = "value_error") -> None:
        super().__init__(loc=list(loc), msg=msg, type=type)


class Problem(Exception):
    """Base of every error a service raises; rendered as application/problem+json."""

    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors) if errors else None
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(Problem):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(Problem):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class NotAcceptable(Problem):
    status, slug, title = 406, "not-acceptable", "Not acceptable"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class InvalidValue(Problem):
    status, slug, title = 422, "invalid-value", "Invalid value"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or BY_STATUS.get(status, "http-error")),
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
    }
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    return Response(dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _render(problem: Problem) -> Response:
    return problem_response(
        problem.status,
        title=problem.title,
        detail=problem.detail,
        slug=problem.slug,
        errors=problem.errors,
        headers=problem.headers,
        extra=problem.extra,
    )


def _clean_loc(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic/FastAPI error dicts as our field errors (no input echo, loc kept)."""
    out = []
    for err in raw:
        msg = str(err.get("msg", "invalid"))
        ctx = err.get("ctx") or {}
        if err.get("type") == "json_invalid" and ctx.get("error"):
            msg = f"JSON decode error: {ctx['error']}"
        out.append(FieldError(_clean_loc(err.get("loc", ())), msg, str(err.get("type", "value_error"))))
    return out


def install(app: FastAPI, refusal: Callable[[Request], Awaitable["Problem | None"]] | None = None) -> None:
    """Route every error, ours, FastAPI's and Starlette's, through the one renderer.

    `refusal` names the 401 or 403 due to a request that is also invalid, where its route checks
    the token only once the request is valid (app.auth.dependencies.refusal_first): that comes first.
    """

    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return _render(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        refused = None if refusal is None else await refusal(request)
        if refused is not None:
            return _render(refused)
        errors = validation_errors(exc.errors())
        names = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
        return problem_response(
            422,
            title="Invalid request",
            slug="invalid-request",
            detail=f"The request has {len(errors)} invalid field(s): {names}",
            errors=errors,
        )

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No resource at this path"
        return problem_response(exc.status_code, detail=detail, headers=dict(exc.headers or {}))

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        return problem_response(500, detail="An unexpected error occurred; it has been logged")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
