"""The dashboard's pages: shells rendered from templates/, the data read by static/dashboard.js.

The shells hold no figures: only labels, the year, the codes in the path, whether public read is on,
and which of the API's optional endpoints this service has. So they need no token, like the static
files; the script sends the token kept in sessionStorage (never in a URL, never in a cookie). The one
fact a shell tells without a token is the default year (the latest with figures), found here so that
the page's own requests need not look for it.
"""

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from app import openapi
from app.auth.dependencies import SessionDep
from app.cells.http import YearQuery
from app.core.config import Settings, current_settings
from app.core.fields import Code
from app.dashboard import service
from app.dashboard.messages import Lang, catalogue

HERE = Path(__file__).parent
PLOTLY = Path(str(files("plotly"))) / "package_data" / "plotly.min.js"
templates = Jinja2Templates(directory=HERE / "templates")

# The endpoints other branches add (the reporting cycle, data quality, progress): a page shows
# "not available" where the service lacks one, rather than asking for it and logging a 404.
OPTIONAL = {
    "completeness": "/api/v1/completeness",
    "approvals": "/api/v1/approvals/zone/2021",
    "assignments": "/api/v1/assignments",
    "progress": "/api/v1/progress",
    "validation": "/api/v1/validation",
    "outliers": "/api/v1/outliers",
}

LangQuery = Annotated[Lang, Query(description="zh (the default) or en")]
SettingsDep = Annotated[Settings, Depends(current_settings)]

router = APIRouter(include_in_schema=False)


@cache
def _available(app: FastAPI) -> dict[str, bool]:
    table = openapi.allow_table(app)
    return {
        name: any(pattern.match(path) and "GET" in methods for pattern, methods in table)
        for name, path in OPTIONAL.items()
    }


def _page(request: Request, name: str, *, lang: Lang, settings: Settings, **context: Any) -> Response:
    other = Lang.en if lang is Lang.zh else Lang.zh
    switched = request.url.include_query_params(lang=other.value)
    page = {
        "page": name,
        "lang": lang.value,
        "public_read": settings.public_read,
        "available": _available(request.app),
        **context,
    }
    messages = catalogue(lang)

    def t(key: str, **values: object) -> str:
        return messages[key].format(**values)

    return templates.TemplateResponse(
        request,
        f"{name}.html",
        {
            "m": messages,
            "t": t,
            "lang": lang.value,
            "page": page,
            "messages": messages,
            "other_lang_url": f"{switched.path}?{switched.query}",
            "overview_url": f"/dashboard/?lang={lang.value}",
            **context,
        },
        headers={"Cache-Control": "no-store"},
    )


def _year(session: SessionDep, settings: SettingsDep, year: YearQuery = None) -> int:
    """`?year=`, else the latest year with figures, else the current year."""
    if year is not None:
        return year
    latest = service.latest_year(session)
    return latest if latest is not None else settings.today().year


Year = Annotated[int, Depends(_year)]


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/")
def overview(request: Request, settings: SettingsDep, year: Year, lang: LangQuery = Lang.zh) -> Response:
    """A year: each department's completeness and approval, the compliance summary."""
    return _page(request, "overview", lang=lang, settings=settings, year=year)


@router.get("/dashboard/indicators/{code}")
def indicator(
    request: Request,
    settings: SettingsDep,
    code: Code,
    parent: Annotated[Code | None, Query(description="the department charted with those below it")] = None,
    lang: LangQuery = Lang.zh,
) -> Response:
    """The indicator's series as a chart and a table: one department and those directly below it."""
    return _page(request, "indicator", lang=lang, settings=settings, code=code, parent=parent)


@router.get("/dashboard/departments/{code}")
def department(
    request: Request, settings: SettingsDep, code: Code, year: Year, lang: LangQuery = Lang.zh
) -> Response:
    """A year of one department: assigned indicators, figures, targets, status, approval history."""
    return _page(request, "department", lang=lang, settings=settings, code=code, year=year)


@router.get("/dashboard/vendor/plotly.min.js")
def plotly_bundle() -> FileResponse:
    """plotly.js as the installed `plotly` wheel ships it."""
    return FileResponse(PLOTLY, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
