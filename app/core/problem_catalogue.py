# ruff: noqa: E501  (sentences of prose, kept whole so that they can be read and searched)
"""What each problem `type` the service answers with means: the page GET /problems/{name} serves
(app.core.problem_pages), in Chinese and English. A new kind of problem gets its entry here; a test
checks that every Problem subclass and every slug the code names has one."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    zh: str
    en: str


@dataclass(frozen=True)
class ProblemPage:
    status: int | None  # None: it varies
    title: Text
    when: Text
    todo: Text


def _page(
    status: int | None, title: tuple[str, str], when: tuple[str, str], todo: tuple[str, str]
) -> ProblemPage:
    return ProblemPage(status, Text(*title), Text(*when), Text(*todo))


PAGES: dict[str, ProblemPage] = {
    "bad-request": _page(
        400,
        ("请求有误", "Bad request"),
        (
            "请求本身无法理解，例如列表的 cursor 不是本服务给出的。",
            "The request cannot be understood, such as a list cursor this service did not give out.",
        ),
        (
            "按 detail 所说改正请求；翻页时只使用上一页答复中的 next_cursor。",
            "Correct the request as `detail` says; page with the `next_cursor` of the previous answer only.",
        ),
    ),
    "unauthorized": _page(
        401,
        ("需要身份认证", "Authentication required"),
        (
            "请求没有令牌、令牌格式不是 Bearer，或令牌未知、已吊销、已过期。",
            "The request has no token, not a Bearer one, or one that is unknown, revoked or expired.",
        ),
        (
            "以 Authorization: Bearer <令牌> 发送有效令牌；令牌过期或吊销时请管理员新发一个（indicators token create）。",
            "Send a valid token as `Authorization: Bearer <token>`; when it expired or was revoked, ask an administrator for a new one (`indicators token create`).",
        ),
    ),
    "forbidden": _page(
        403,
        ("无权操作", "Forbidden"),
        (
            "令牌有效，但其角色或部门不允许此操作，例如填报员写其他部门的数据。",
            "The token is valid but its role or department does not allow this, such as a clerk writing another department's figures.",
        ),
        (
            "使用有此权限的令牌，或请管理员授予相应角色。",
            "Use a token with the right, or ask an administrator for the role.",
        ),
    ),
    "not-found": _page(
        404,
        ("未找到", "Not found"),
        (
            "路径所指的资源不存在：未知的指标、部门、年度数据或地址。",
            "Nothing is at this path: an unknown indicator, department, figure or address.",
        ),
        (
            "核对路径中的代码和年度（GET /api/v1/indicators、/api/v1/departments 列出可用代码）。",
            "Check the codes and year in the path (GET /api/v1/indicators and /api/v1/departments list the codes).",
        ),
    ),
    "method-not-allowed": _page(
        405,
        ("方法不允许", "Method not allowed"),
        ("此路径不接受该 HTTP 方法。", "This path does not take that HTTP method."),
        ("使用答复的 Allow 头所列的方法。", "Use a method the answer's `Allow` header lists."),
    ),
    "not-acceptable": _page(
        406,
        ("无法提供该格式", "Not acceptable"),
        (
            "Accept 或 format 所要的格式不是本服务能写出的。",
            "The format asked for by `Accept` or `format` is not one this service writes.",
        ),
        (
            "请求 JSON、CSV（text/csv 或 format=csv）或 xlsx（format=xlsx）。",
            "Ask for JSON, CSV (`text/csv` or `format=csv`) or a workbook (`format=xlsx`).",
        ),
    ),
    "conflict": _page(
        409,
        ("与现有数据冲突", "Conflict"),
        (
            "请求与已存数据冲突，例如代码已被使用、仍有数据引用要删除的对象。",
            "The request conflicts with what is stored, such as a code already taken or a deletion of something still referred to.",
        ),
        ("按 detail 所说处理冲突后重试。", "Resolve what `detail` names, then try again."),
    ),
    "precondition-failed": _page(
        412,
        ("前置条件不成立", "Precondition failed"),
        (
            "If-Match 或 If-None-Match 不成立：读取之后有人修改了该数据；未写入任何内容。",
            "If-Match or If-None-Match did not hold: someone changed the resource since you read it; nothing was written.",
        ),
        (
            "重新读取（取得新的 ETag），确认改动后再写。",
            "Read it again (for its new ETag), check the change, then write.",
        ),
    ),
    "payload-too-large": _page(
        413,
        ("请求体过大", "Payload too large"),
        (
            "请求体超过 INDICATORS_MAX_UPLOAD_MB，或批量行数超过 INDICATORS_MAX_BATCH_ROWS。",
            "The body is larger than INDICATORS_MAX_UPLOAD_MB, or a batch has more rows than INDICATORS_MAX_BATCH_ROWS.",
        ),
        (
            "把文件分成几批发送，或请管理员提高限额。",
            "Send the file in several batches, or ask the administrator to raise the limit.",
        ),
    ),
    "unsupported-media-type": _page(
        415,
        ("不支持的内容类型", "Unsupported media type"),
        (
            "请求体的 Content-Type 不是此操作能读的。",
            "The body's Content-Type is not one this operation reads.",
        ),
        (
            "按文档设置 Content-Type：application/json、text/csv 或 xlsx 的类型。",
            "Set Content-Type as documented: application/json, text/csv or the xlsx type.",
        ),
    ),
    "invalid-value": _page(
        422,
        ("数值无效", "Invalid value"),
        (
            "某个值不符合规则，例如超出指标的取值范围、未知的代码、未来年度；errors 逐项指明字段。",
            "A value breaks a rule, such as outside the indicator's range, an unknown code or a future year; `errors` names each field.",
        ),
        (
            "按 errors 中每项的 loc 和 msg 改正后重发。",
            "Correct each field `errors` names (`loc`, `msg`) and send again.",
        ),
    ),
    "invalid-request": _page(
        422,
        ("请求无效", "Invalid request"),
        (
            "参数或请求体不符合 OpenAPI 所述的格式：缺少字段、类型不对、超出范围。",
            "A parameter or the body does not fit what the OpenAPI document states: a field missing, of the wrong type or out of range.",
        ),
        (
            "按 errors 改正；/docs 列出每个参数的约束。",
            "Correct what `errors` lists; /docs gives every parameter's constraints.",
        ),
    ),
    "internal-error": _page(
        500,
        ("服务内部错误", "Internal error"),
        ("服务出现了意外错误，已记录日志。", "The service met an unexpected error; it has been logged."),
        (
            "稍后重试；如反复出现，请把时间和请求告诉管理员。",
            "Try again later; if it persists, tell the administrator the time and the request.",
        ),
    ),
    "service-unavailable": _page(
        503,
        ("服务暂不可用", "Service unavailable"),
        (
            "服务暂时无法完成请求；未写入任何内容，除非 detail 另有说明。",
            "The service cannot complete the request for now; nothing was written unless `detail` says otherwise.",
        ),
        ("按 Retry-After 等待后重试。", "Wait as `Retry-After` says, then try again."),
    ),
    "database-unavailable": _page(
        503,
        ("数据库暂不可用", "Database unavailable"),
        (
            "数据库不应答，或多次拒绝了该事务；未写入任何内容。",
            "The database does not answer or kept refusing the transaction; nothing was written.",
        ),
        (
            "按 Retry-After 等待后重试；数据库恢复后服务自动恢复。",
            "Wait as `Retry-After` says and try again; the service recovers by itself once the database is back.",
        ),
    ),
    "database-down": _page(
        503,
        ("数据库无应答", "Database down"),
        ("/readyz 检查数据库时没有得到应答。", "/readyz found the database not answering."),
        (
            "检查数据库服务器和 INDICATORS_DATABASE_URL。",
            "Check the database server and INDICATORS_DATABASE_URL.",
        ),
    ),
    "cors-refused": _page(
        400,
        ("跨域预检被拒绝", "CORS preflight refused"),
        (
            "浏览器的跨域预检请求了不允许的来源、方法或请求头。",
            "A browser's CORS preflight asked for an origin, method or header the service does not allow.",
        ),
        (
            "请管理员把页面的来源加入 INDICATORS_CORS_ORIGINS；只发送文档所列的请求头。",
            "Ask the administrator to add the page's origin to INDICATORS_CORS_ORIGINS; send only the documented headers.",
        ),
    ),
    "locked": _page(
        409,
        ("数据已锁定", "Figures locked"),
        (
            "该部门该年度的数据已上报（submitted）或已审核通过（approved）：上报后填报员不能修改，审核通过后任何人都不能修改。detail 给出状态和审核人。",
            "The department's figures for that year are submitted or approved: once submitted clerks cannot change them, once approved nobody can. `detail` names the state and the approver.",
        ),
        (
            "已上报的请委员会办公室退回（return）；已审核通过的请其重新打开（reopen，需写明理由），再修改。",
            "Ask the commission office to return a submitted year, or to reopen an approved one (with a reason), then write again.",
        ),
    ),
    "period-closed": _page(
        409,
        ("填报期已截止", "Entry period closed"),
        (
            "该年度的填报期不在今天（INDICATORS_TIMEZONE 的日期）：填报员在开放日之前或截止日之后不能写入。detail 给出截止日期。",
            "The year's entry period does not include today (a date in INDICATORS_TIMEZONE): clerks cannot write before it opens or after it closes. `detail` gives the closing date.",
        ),
        (
            "请委员会办公室为本部门设置例外（periods/{year}/exceptions/{department}），或由委员会、管理员录入。",
            "Ask the commission office for an exception for your department (`periods/{year}/exceptions/{department}`), or have the commission or an administrator enter the figure.",
        ),
    ),
    "derived": _page(
        409,
        ("派生指标不能写入", "Derived figure"),
        (
            "该指标是派生指标（有 formula）：它的数值在读取时由各操作数指标的数值计算得出，不能写入、修改或删除，也没有自己的修改历史。",
            "The indicator is derived (it has a `formula`): its figures are computed from its operands' figures whenever read, so they cannot be written, changed or deleted, and have no history of their own.",
        ),
        (
            "修改公式中的操作数指标的数值；派生数值随之改变。要查看来源，请看各操作数的历史（detail 列出了它们）。",
            "Change the figures of the formula's operands; the derived figure follows at once. For where it came from, read the operands' histories (`detail` names them).",
        ),
    ),
    "http-error": _page(
        None,
        ("HTTP 错误", "HTTP error"),
        ("其他 HTTP 错误，status 给出状态码。", "Another HTTP error; `status` gives its code."),
        ("按 detail 所说处理。", "Do as `detail` says."),
    ),
}

# The slug of an error Starlette or FastAPI raise by status, where the code names none.
BY_STATUS = {
    page.status: slug
    for slug, page in reversed(PAGES.items())
    if page.status is not None and slug not in ("cors-refused", "database-down", "database-unavailable")
}
