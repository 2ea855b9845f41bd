"""The request body limit, answered as problem+json.

Starlette's own RequestBodyLimitMiddleware answers a declared oversize body with text/plain, which
the contract forbids, so this small middleware does the same job in our error format.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.problems import problem_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return (
            f"The request body is larger than {self.max_bytes} bytes "
            f"({self.max_bytes / 1024 / 1024:g} MB, INDICATORS_MAX_UPLOAD_MB)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                response = problem_response(413, detail=self._detail(), slug="payload-too-large")
                await response(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body, so this
                    # reaches the problem handler as a 413 rather than a generic parse error.
                    raise HTTPException(413, detail=self._detail())
            return message

        await self.app(scope, limited, send)
