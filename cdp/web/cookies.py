"""Signed, HttpOnly, SameSite=Strict cookies holding a small session dict, and CSRF tokens bound to it.

Every visitor's cookie carries a random session id (`sid`); a form's CSRF token is an HMAC of that id, so a
token is only good with the cookie it was issued for, and rotating the id (at sign-in) rotates the token.
The signing key is CDP_WEB_SECRET when set, else derived from the key store (so every process of a
deployment agrees on it without another secret to manage, and a copy of the data database does not reveal it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

CSRF_FIELD = "csrf"


class CookieSession:
    def __init__(self, key: bytes, *, name: str, path: str, max_age: int, secure: bool) -> None:
        self.key, self.name, self.path, self.max_age, self.secure = key, name, path, max_age, secure
        self._serializer = URLSafeTimedSerializer(key, salt=f"cdp-web:{name}")

    def load(self, request: Request) -> dict[str, Any]:
        """The session dict, or a fresh one with a new id when the cookie is missing, forged or expired."""
        raw = request.cookies.get(self.name)
        if raw:
            try:
                data = self._serializer.loads(raw, max_age=self.max_age)
                if isinstance(data, dict) and isinstance(data.get("sid"), str):
                    return data
            except BadSignature:
                pass
        return {"sid": secrets.token_urlsafe(32)}

    def save(self, response: Response, data: dict[str, Any]) -> None:
        response.set_cookie(
            self.name,
            self._serializer.dumps(data),
            max_age=self.max_age,
            path=self.path,
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path=self.path, httponly=True, samesite="strict", secure=self.secure)

    def csrf_token(self, data: dict[str, Any]) -> str:
        return hmac.new(self.key, f"csrf:{self.name}:{data['sid']}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, data: dict[str, Any], submitted: object) -> bool:
        return isinstance(submitted, str) and hmac.compare_digest(self.csrf_token(data), submitted)


SECURITY_HEADERS = {
    # Every asset is served by the app: no CDN, no inline script.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
