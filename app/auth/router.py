from fastapi import Query, Request
from starlette.responses import Response

from app.audit.http import record
from app.audit.models import AuditAction
from app.auth import tokens as service
from app.auth.dependencies import Admin, SessionDep, bearer
from app.auth.schemas import TokenCreate, TokenCreated, TokenRead, WhoAmI
from app.core.json import json_response
from app.core.pagination import Page
from app.core.problems import Unauthorized
from app.core.routing import api_router

router = api_router("/tokens", "tokens")
whoami_router = api_router("", "tokens")


@router.post(
    "",
    status_code=201,
    response_model=TokenCreated,
    responses={409: {"description": "A live token with that name exists"}},
)
def create_token(data: TokenCreate, request: Request, session: SessionDep, actor: Admin) -> Response:
    """Create a token; its secret is in this answer only and is never shown again."""
    token, secret = service.create(session, data=data, actor=actor.name)
    record(request, session, actor=actor.name, action=AuditAction.token_create, target=data.name, detail=data)
    read = service.read(token, data.department)
    body = TokenCreated(**read.model_dump(), token=secret)
    return json_response(body, status_code=201, headers={"Cache-Control": "no-store"})


@router.get("", response_model=Page[TokenRead])
def list_tokens(session: SessionDep, _: Admin, include_revoked: bool = Query(default=False)) -> Response:
    """Tokens by name, without their secrets: when each expires and was last used (to the hour)."""
    return json_response(Page(items=service.list(session, include_revoked=include_revoked)))


@router.delete("/{name}", status_code=204)
def revoke_token(name: str, request: Request, session: SessionDep, actor: Admin) -> Response:
    """Revoke a live token: its next request gets 401."""
    service.revoke(session, name=name)
    record(request, session, actor=actor.name, action=AuditAction.token_revoke, target=name)
    return Response(status_code=204)


@whoami_router.get(
    "/whoami",
    response_model=WhoAmI,
    responses={401: {"description": "No token (even under public read), or one not in force"}},
    openapi_extra={"security": [{"bearer": []}]},
)
def whoami(request: Request, session: SessionDep) -> Response:
    """The token this request was sent with: its name, role, department and expiry.

    Without a token this is 401, also where INDICATORS_PUBLIC_READ lets anonymous requests read:
    there is no token to describe, and a client asking learns that it sends none."""
    secret = bearer(request)
    if secret is None:
        raise Unauthorized("A bearer token is required: this describes the token a request is sent with")
    return json_response(service.whoami(session, secret), headers={"Cache-Control": "no-store"})
