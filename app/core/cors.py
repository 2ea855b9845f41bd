"""CORS: browser pages on the origins of INDICATORS_CORS_ORIGINS may call the API (Starlette's
CORSMiddleware), preflight included; with none configured, no answer carries a CORS header."""

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.core.problems import problem_response

# What such a page may send, and read of an answer beyond the headers every page may read: the ETag
# for If-Match, where a new resource is, when to retry, which methods a path takes, a file's name.
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
REQUEST_HEADERS = ["Authorization", "Content-Type", "Accept", "If-Match", "If-None-Match"]
EXPOSED_HEADERS = ["ETag", "Location", "Retry-After", "Allow", "WWW-Authenticate", "Content-Disposition"]


class _CORS(CORSMiddleware):
    """Starlette's, with a refused preflight answered as problem+json like every other 4xx."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        headers = {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}
        return problem_response(
            response.status_code,
            title="CORS preflight refused",
            detail=f"This preflight asks for what the service does not allow: {refused} "
            f"(origins are set by INDICATORS_CORS_ORIGINS; methods {', '.join(METHODS)}; "
            f"headers {', '.join(REQUEST_HEADERS)})",
            slug="cors-refused",
            headers=headers,
        )


def install(app: FastAPI, origins: list[str]) -> None:
    """Outermost, so that every answer to those origins carries it, refusals (413, 503) included:
    add it after every other middleware. No origins: nothing is added."""
    if not origins:
        return
    app.add_middleware(
        _CORS,
        allow_origins=origins,
        allow_methods=METHODS,
        allow_headers=REQUEST_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
