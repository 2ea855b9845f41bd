from fastapi import Query
from starlette.responses import Response

from app.auth import tokens as service
from app.auth.dependencies import Admin, SessionDep
from app.auth.schemas import TokenCreate, TokenCreated, TokenRead
from app.core.json import json_response
from app.core.pagination import Page
from app.core.routing import api_router

router = api_router("/tokens", "tokens")


@router.post(
    "",
    status_code=201,
    response_model=TokenCreated,
    responses={409: {"description": "A live token with that name exists"}},
)
def create_token(data: TokenCreate, session: SessionDep, actor: Admin) -> Response:
    """Create a token; its secret is in this answer only and is never shown again."""
    token, secret = service.create(session, data=data, actor=actor.name)
    read = service.read(token, data.department)
    body = TokenCreated(**read.model_dump(), token=secret)
    return json_response(body, status_code=201, headers={"Cache-Control": "no-store"})


@router.get("", response_model=Page[TokenRead])
def list_tokens(session: SessionDep, _: Admin, include_revoked: bool = Query(default=False)) -> Response:
    """Tokens by name, without their secrets."""
    return json_response(Page(items=service.list(session, include_revoked=include_revoked)))


@router.delete("/{name}", status_code=204)
def revoke_token(name: str, session: SessionDep, _: Admin) -> Response:
    """Revoke a live token: its next request gets 401."""
    service.revoke(session, name=name)
    return Response(status_code=204)
