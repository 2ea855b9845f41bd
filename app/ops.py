"""Liveness, readiness, and the API docs served from an installed package (no outside network)."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from sqlalchemy import Engine, text
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from app import resilience
from app.database import get_engine
from app.jsonio import json_response
from app.problems import problem_response

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
            # Pooled connections are not pinged (app.database.make_engine): one the server closed
            # fails here, and the pool is emptied. A new one says whether the database answers.
            if attempt == 1 and resilience.classify(exc) == "retry":
                continue
            return problem_response(
                503, detail=f"The database does not answer: {type(exc).__name__}", slug="database-down"
            )
    return json_response({"status": "ready", "database": "ok"})


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
