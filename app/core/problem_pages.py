"""GET /problems/{name}: what a problem `type` means and what to do, for people (HTML, Chinese by
default, `?lang=en`) and for programs (JSON, `Accept: application/json`). No token needed."""

from html import escape
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse, Response

from app.core.json import json_response
from app.core.problem_catalogue import PAGES, ProblemPage
from app.core.problems import TYPE_BASE, NotFound

router = APIRouter(tags=["operations"])

Lang = Literal["zh", "en"]


class ProblemType(BaseModel):
    """One problem type, as GET /problems/{name} describes it in JSON."""

    type: str = Field(description="The URI problem answers carry in `type`", examples=["/problems/not-found"])
    name: str
    status: int | None = Field(description="The HTTP status it comes with; None: it varies")
    title: str
    when: str = Field(description="When the service answers with it")
    what_to_do: str
    lang: Lang


def _described(name: str, page: ProblemPage, lang: Lang) -> ProblemType:
    return ProblemType(
        type=TYPE_BASE + name,
        name=name,
        status=page.status,
        title=getattr(page.title, lang),
        when=getattr(page.when, lang),
        what_to_do=getattr(page.todo, lang),
        lang=lang,
    )


_LABELS = {
    "zh": ("HTTP 状态", "何时出现", "怎么办", "可变", "English", "en", "问题类型"),
    "en": ("HTTP status", "When it happens", "What to do", "varies", "中文", "zh", "Problem type"),
}


def _html(about: ProblemType) -> str:
    status, when, todo, varies, other, other_lang, kind = _LABELS[about.lang]
    code = "varies" if about.status is None else str(about.status)
    return f"""<!doctype html>
<html lang="{about.lang}">
<head><meta charset="utf-8"><title>{escape(about.title)}</title>
<style>body{{font-family:sans-serif;max-width:42em;margin:2em auto;padding:0 1em;line-height:1.6}}
code{{background:#f3f3f3;padding:0 .2em}}dt{{font-weight:bold;margin-top:1em}}</style></head>
<body>
<p>{kind} <code>{escape(about.type)}</code> · <a href="?lang={other_lang}">{other}</a></p>
<h1>{escape(about.title)}</h1>
<dl>
<dt>{status}</dt><dd>{varies if about.status is None else escape(code)}</dd>
<dt>{when}</dt><dd>{escape(about.when)}</dd>
<dt>{todo}</dt><dd>{escape(about.what_to_do)}</dd>
</dl>
</body>
</html>
"""


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "text/html" not in accept


@router.get(
    "/problems/{name}",
    response_model=ProblemType,
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
        404: {"description": "No problem type of that name"},
    },
)
def problem_type(
    request: Request,
    name: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="As in `type`")],
    lang: Annotated[Lang, Query(description="zh (default) or en")] = "zh",
) -> Response:
    """What a problem `type` means: its status, when it happens and what to do. HTML for a browser,
    JSON for `Accept: application/json`."""
    page = PAGES.get(name)
    if page is None:
        raise NotFound(f"No problem type named {name!r}; the types are: {', '.join(sorted(PAGES))}")
    about = _described(name, page, lang)
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept"}
    if _wants_json(request):
        return json_response(about, headers=headers)
    return HTMLResponse(_html(about), headers=headers)
