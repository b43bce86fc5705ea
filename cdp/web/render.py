"""Jinja2 templates (autoescaped) and the responses every page shares: security headers on every page, a
plain error page whose message names what is wrong."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, StreamingResponse
from starlette.templating import Jinja2Templates

from cdp.web.cookies import SECURITY_HEADERS

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def plain(value: Any) -> str:
    """A JSON value as readable text (a certificate's lists and counts), not Python's repr."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {plain(item)}" for key, item in value.items()) or "—"
    if isinstance(value, list):
        return ", ".join(plain(item) for item in value) or "—"
    return str(value)


templates.env.filters["plain"] = plain


def page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a form: 303 so a reload does not repeat the POST."""
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def zip_download(archive: IO[bytes], filename: str) -> StreamingResponse:
    """A zip archive of personal data (a data-subject export) as an attachment that no cache keeps: sent a
    chunk at a time from its file, which is closed once sent or once the client goes away."""

    def chunks() -> Iterator[bytes]:
        with archive:
            while chunk := archive.read(64 * 1024):
                yield chunk

    size = archive.seek(0, os.SEEK_END)
    archive.seek(0)
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Length": str(size),
        "Cache-Control": "no-store",
    }
    return StreamingResponse(chunks(), media_type="application/zip", headers=headers)
