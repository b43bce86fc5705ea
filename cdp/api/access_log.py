"""One structured access-log line per request: method, path, status, duration, request id and, for GraphQL,
the operation name, role and purpose. Never query text, variables or any other value the caller sent.

The line is JSON on the `cdp.access` logger. The request id is the caller's `X-Request-Id` when it is a short
token, else a new one; it is sent back in the response's `X-Request-Id` header.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("cdp.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_FIELDS = "cdp_access"


def note(request: Request, **fields: str | None) -> None:
    """Add fields (operation, role, purpose) to this request's access-log line."""
    request.scope.setdefault("state", {}).setdefault(_FIELDS, {}).update(fields)


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @classmethod
    def middleware(cls) -> Middleware:
        return Middleware(cls)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        status = 500  # unless a response starts
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            line: dict[str, Any] = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            line.update(scope.get("state", {}).get(_FIELDS, {}))
            logger.info(json.dumps(line, ensure_ascii=False))
