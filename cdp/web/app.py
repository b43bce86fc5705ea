"""The pages' routes, mounted into the ASGI app by cdp.api.app: /privacy, /console and their assets (under /assets:
/static is GraphiQL's)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from cdp.auth.staff import cookie_signing_key
from cdp.store import Store
from cdp.web.console import Console
from cdp.web.cookies import CookieSession
from cdp.web.privacy import PrivacyCentre
from cdp.web.render import STATIC_DIR

PRIVACY_COOKIE_SECONDS = 2 * 3600  # a verified subject's token lives in this cookie: keep it short
CONSOLE_COOKIE_SECONDS = 8 * 3600  # the server-side session expires first (cdp.auth.staff.SESSION_LIFETIME)


def web_routes(store: Store) -> list[BaseRoute]:
    key, secure = cookie_signing_key(store), store.settings.production
    privacy = PrivacyCentre(
        store, CookieSession(key, name="cdp_privacy", path="/privacy", max_age=PRIVACY_COOKIE_SECONDS, secure=secure)
    )
    console = Console(
        store,
        CookieSession(key, name="cdp_console", path="/console", max_age=CONSOLE_COOKIE_SECONDS, secure=secure),
        CookieSession(key, name="cdp_console_signin", path="/console/signin", max_age=3600, secure=secure),
    )
    return [
        Mount("/privacy", routes=privacy.routes()),
        Mount("/console", routes=console.routes()),
        Mount("/assets", app=StaticFiles(directory=str(STATIC_DIR)), name="assets"),
    ]
