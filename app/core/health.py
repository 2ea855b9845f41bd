"""Liveness and readiness: whether the process is up, and whether its database answers."""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import Engine, text
from starlette.responses import Response

from app.core.db import retry as resilience
from app.core.db.engine import get_engine
from app.core.json import json_response
from app.core.problems import problem_response

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return json_response({"status": "ok"})


@router.get("/readyz", responses={503: {"description": "The database does not answer"}})
def readyz(engine: Annotated[Engine, Depends(get_engine)]) -> Response:
    """The database answers; 503 otherwise."""
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            break
        except Exception as exc:
            # Pooled connections are not pinged (app.core.db.session.make_engine): one the server closed
            # fails here, and the pool is emptied. A new one says whether the database answers.
            if attempt == 1 and resilience.classify(exc) == "retry":
                continue
            return problem_response(
                503, detail=f"The database does not answer: {type(exc).__name__}", slug="database-down"
            )
    return json_response({"status": "ready", "database": "ok"})
