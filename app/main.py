"""create_app(): the routers, the problem handlers, and the docs."""

import logging

from fastapi import Depends, FastAPI

from app import openapi
from app.analytics.router import router as analytics_router
from app.audit.router import routes as audit_routes
from app.auth.dependencies import refusal_first, require
from app.auth.models import Role
from app.auth.router import router as tokens_router
from app.auth.router import whoami_router
from app.core import cors, heap, problem_pages, problems
from app.core.config import get_settings
from app.core.db.retry import DatabaseRetry
from app.core.health import router as ops_router
from app.core.limits import BodyLimit
from app.dashboard import router as dashboard
from app.departments import router as departments
from app.exchange.router import router as exchange_router
from app.indicators import router as indicators
from app.observations import service as observations
from app.observations.router import router as observations_router
from app.openapi import install_docs
from app.quality.router import router as quality_router
from app.reporting.router import router as reporting_router
from app.targets.compliance.router import router as compliance_router
from app.targets.progress.router import router as progress_router
from app.targets.router import router as targets_router
from app.transfer.router import router as transfer_router
from app.transfer.targets_router import router as targets_batch_router
from app.transfer.templates_router import router as templates_router

DESCRIPTION = """
Performance indicators of a local government: the figures each department reports every year,
the targets they must reach, and whether they do.

Authenticate with `Authorization: Bearer <token>` (`GET /api/v1/whoami` says whose it is). Every
error is `application/problem+json`; its `type`, `/problems/{name}`, is a page saying what it means.
"""


# The order the documentation shows the routes in: the catalogue, then figures, then what reads them.
TAGS = (
    "operations",
    "departments",
    "indicators",
    "observations",
    "targets",
    "compliance",
    "progress",
    "analytics",
    "exchange",
    "reporting",
    "quality",
    "tokens",
    "audit",
)


def create_app() -> FastAPI:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    app = FastAPI(
        title="Indicators API",
        version="1.0.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_tags=[{"name": tag} for tag in TAGS],
    )
    problems.install(app, refusal=refusal_first)
    # Routes are matched in the order included, each router's in turn (about 2 µs a route passed): the
    # reads dashboards call most first, one figure, then series, comparisons and completeness, then
    # compliance. The paths do not overlap, and the documentation keeps its order by TAGS.
    for router in (
        observations_router,
        analytics_router,
        compliance_router,
        transfer_router,
        ops_router,
        problem_pages.router,
        departments.router,
        departments.deletion(referenced=observations.has_history),
        indicators.router,
        indicators.changes(has_figures=observations.indicator_has_data, referenced=observations.has_history),
        templates_router,
        targets_router,
        targets_batch_router,
        progress_router,
        exchange_router,
        reporting_router,
        quality_router,
        tokens_router,
        whoami_router,
        audit_routes(admin=Depends(require(Role.admin))),
    ):
        app.include_router(router)
    install_docs(app)
    dashboard.install(app)
    openapi.install(app, public_read=settings.public_read)
    app.add_middleware(DatabaseRetry)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    cors.install(app, settings.cors_origin_list)
    return app


def serving_app() -> FastAPI:
    """create_app() as `indicators serve` runs it in each worker: its heap is set aside from the
    garbage collector once its first requests are served (app.core.heap)."""
    app = create_app()
    heap.freeze_later(app)
    return app
