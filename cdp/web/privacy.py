"""The privacy centre at /privacy: a data subject starts a request with their email, proves it with the emailed
code, then downloads their export, corrects, erases or objects, and sets their consent per purpose.

Before verification the page acts as the privacy centre (role frontend_app, purpose data_subject_rights), as
the GraphQL startDsrRequest/verifyDsrRequest callers do; afterwards with the data-subject token the
verification returned, kept in the signed HttpOnly cookie (never in a URL), so every later step is scoped to
the subject's own profile by the same services and gate.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdp.access.gate import AccessContext
from cdp.auth.service import AuthError, Principal, authenticate
from cdp.consents import service as consents
from cdp.dsr import deadlines, service, verification
from cdp.dsr.common import DsrError, RequestNotFound
from cdp.ids import utcnow
from cdp.profiles import service as profiles
from cdp.store import Store
from cdp.web.audit import audit_read
from cdp.web.cookies import CSRF_FIELD, CookieSession
from cdp.web.i18n import COUNTRIES, LANGUAGES, Catalog, catalog, negotiate
from cdp.web.render import page, redirect, zip_download
from consent.jurisdiction import jurisdiction_for
from policies.errors import AccessDenied

PURPOSE = "data_subject_rights"
CENTRE = Principal("web:privacy-centre", "privacy centre", "frontend_app")
KINDS = ("access", "portability", "rectification", "erasure", "objection")
RECTIFIABLE = ("first_name", "last_name", "address_line1", "city", "postal_code")
NOTICE_VERSION = "privacy-centre-1"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class PrivacyCentre:
    def __init__(self, store: Store, cookies: CookieSession) -> None:
        self.store, self.cookies = store, cookies

    def routes(self) -> list[Route]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/start", self.start, methods=["POST"]),
            Route("/verify", self.verify_form, methods=["GET"]),
            Route("/verify", self.verify, methods=["POST"]),
            Route("/me", self.me, methods=["GET"]),
            Route("/requests/{request_id}/run", self.run, methods=["POST"]),
            Route("/consent", self.consent, methods=["POST"]),
            Route("/signout", self.sign_out, methods=["POST"]),
        ]

    # -- shared ---------------------------------------------------------------------------------------------
    def _state(self, request: Request) -> tuple[dict[str, Any], Catalog]:
        data = self.cookies.load(request)
        asked = request.query_params.get("lang")
        if asked in LANGUAGES:
            data["lang"] = asked
        lang = data.get("lang") or negotiate(request.headers.get("accept-language"))
        return data, catalog(lang)

    def _render(self, request: Request, data: dict[str, Any], t: Catalog, template: str, code: int = 200,
                **context: Any) -> Response:  # fmt: skip
        flash = data.pop("flash", None)
        response = page(
            request,
            f"privacy/{template}",
            {"t": t, "csrf": self.cookies.csrf_token(data), "languages": LANGUAGES, "flash": flash,
             "signed_in": "token" in data, **context},
            code,
        )  # fmt: skip
        self.cookies.save(response, data)
        return response

    def _redirect(self, data: dict[str, Any], url: str) -> Response:
        response = redirect(url)
        self.cookies.save(response, data)
        return response

    async def _form(self, request: Request, data: dict[str, Any]) -> dict[str, str] | None:
        form = await request.form()
        if not self.cookies.csrf_ok(data, form.get(CSRF_FIELD)):
            return None
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def _subject(self, session: Session, data: dict[str, Any]) -> AccessContext | None:
        token = data.get("token")
        if not token:
            return None
        try:
            principal = authenticate(session, f"Bearer {token}")
        except AuthError:
            return None
        return AccessContext.for_principal(principal, PURPOSE)

    # -- before verification ---------------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        data, t = self._state(request)
        return self._render(request, data, t, "start.html", kinds=KINDS, countries=COUNTRIES)

    async def start(self, request: Request) -> Response:
        data, t = self._state(request)
        form = await self._form(request, data)
        error = None
        if form is None:
            error = t("error_form")
        elif form.get("kind") not in KINDS:
            error = t("error_kind")
        elif not _EMAIL.fullmatch(form.get("email", "").strip()):
            error = t("error_email")
        if error or form is None:
            return self._render(request, data, t, "start.html", 400, kinds=KINDS, countries=COUNTRIES, error=error)
        country = form.get("country", "OTHER")
        region = "CA" if country == "US-CA" else None
        identifier_country = "US" if country == "US-CA" else (None if country == "OTHER" else country)
        access = AccessContext.for_principal(CENTRE, PURPOSE)
        identifier = service.SubjectIdentifier("email", form["email"].strip(), identifier_country)
        with self.store.transaction() as session:
            created = service.create_request(
                session, self.store, access, kind=form["kind"], identifiers=[identifier], source="privacy_centre"
            )
        try:  # the request stands even when the email cannot be sent now
            with self.store.transaction() as session:
                verification.send_verification(session, self.store, created.id)
        except DsrError:
            pass
        # The deadline shown follows the country given, not the profile found: the page answers the same
        # whether or not we hold the address.
        jurisdiction = jurisdiction_for(identifier_country, region)
        data.update(request_id=created.id, jurisdiction=jurisdiction)
        return self._redirect(data, "/privacy/verify")

    async def verify_form(self, request: Request) -> Response:
        data, t = self._state(request)
        if "request_id" not in data:
            return self._redirect(data, "/privacy/")
        return self._render(request, data, t, "verify.html", **self._deadline(data))

    def _deadline(self, data: dict[str, Any]) -> dict[str, Any]:
        jurisdiction = data.get("jurisdiction", "OTHER")
        today = utcnow().date()  # requests are dated in UTC
        return {"due": deadlines.due_date(jurisdiction, today), "law": deadlines.rule_for(jurisdiction).law}

    async def verify(self, request: Request) -> Response:
        data, t = self._state(request)
        form = await self._form(request, data)
        if form is None or "request_id" not in data:
            return self._render(request, data, t, "verify.html", 400, error=t("error_form"), **self._deadline(data))
        access = AccessContext.for_principal(CENTRE, PURPOSE)
        try:
            with self.store.transaction() as session:  # a wrong code counts: committed before it is refused
                result = verification.verify_code(session, self.store, access, data["request_id"], form.get("code", ""))
            verified = result.accepted()
        except (DsrError, RequestNotFound) as exc:
            return self._render(request, data, t, "verify.html", 400, error=t("error_code", reason=str(exc)),
                                **self._deadline(data))  # fmt: skip
        data["token"] = verified.token
        return self._redirect(data, "/privacy/me")

    # -- signed in as the subject ------------------------------------------------------------------------
    async def me(self, request: Request) -> Response:
        data, t = self._state(request)
        gpc = request.headers.get("sec-gpc", "").strip() == "1"
        with self.store.transaction() as session:
            access = self._subject(session, data)
            if access is None:
                data.pop("token", None)
                return self._redirect(data, "/privacy/")
            profile_id = access.principal.profile_id
            assert profile_id is not None
            if gpc:
                consents.apply_gpc(session, access, [profile_id])
            group = profiles.customer(session, access, profile_id)
            requests = service.list_requests(session, access, first=100)
            overview = [
                c for c in consents.consent_overview(session, access, profile_id)
                if access.purposes.consent_mode(c.purpose, _known(access, group.root.jurisdiction)) != "none"
            ]  # fmt: skip
            audit_read(session, access, "privacy/me")
        laws = {r.id: deadlines.rule_for(r.jurisdiction).law for r in requests}
        return self._render(request, data, t, "me.html", requests=requests, laws=laws, consents=overview, gpc=gpc,
                            rectifiable=RECTIFIABLE, purposes=access.purposes)  # fmt: skip

    async def run(self, request: Request) -> Response:
        data, t = self._state(request)
        form = await self._form(request, data)
        request_id = request.path_params["request_id"]
        if form is None:
            data["flash"] = t("error_form")
            return self._redirect(data, "/privacy/me")
        corrections = {name: form[name].strip() for name in RECTIFIABLE if form.get(name, "").strip()}
        try:
            outcome = self._execute(data, request_id, corrections)
        except PermissionError:
            data.pop("token", None)
            data["flash"] = t("error_session")
            return self._redirect(data, "/privacy/")
        except (DsrError, RequestNotFound, AccessDenied) as exc:
            data["flash"] = str(exc)
            return self._redirect(data, "/privacy/me")
        kind = outcome.request.kind
        if outcome.archive is not None:
            return zip_download(outcome.archive, f"my-data-{request_id}.zip")
        if kind == "erasure":
            data.pop("token", None)  # nothing left to see: the token's profile is erased
            return self._render(request, data, t, "erased.html", request_id=request_id,
                                certificate=outcome.certificate or {})  # fmt: skip
        data["flash"] = t("objection_done" if kind == "objection" else "rectification_done")
        return self._redirect(data, "/privacy/me")

    def _execute(self, data: dict[str, Any], request_id: str, corrections: dict[str, str]) -> service.Outcome:
        with self.store.transaction() as session:
            access = self._subject(session, data)
        if access is None:
            raise PermissionError("not signed in")
        return self.store.run_until(
            lambda session: service.execute(session, self.store, access, request_id, traits=corrections or None),
            finished=lambda o: o.finished,  # an erasure's second step runs once its first is committed
        )

    async def consent(self, request: Request) -> Response:
        data, t = self._state(request)
        form = await self._form(request, data)
        if form is None or form.get("status") not in ("granted", "withdrawn"):
            data["flash"] = t("error_form")
            return self._redirect(data, "/privacy/me")
        with self.store.transaction() as session:
            access = self._subject(session, data)
            if access is None:
                return self._redirect(data, "/privacy/")
            try:
                purpose = access.purposes.get(form.get("purpose", ""))
            except LookupError:
                data["flash"] = t("error_form")
                return self._redirect(data, "/privacy/me")
            assert access.principal.profile_id is not None
            consents.record_consent(
                session,
                access,
                profile_id=access.principal.profile_id,
                purpose=purpose.name,
                status=form["status"],
                source="data_subject",
                notice_version=f"{NOTICE_VERSION}/{t.lang}",
                notice_text=self._notice(t, purpose.name, purpose.description),
            )
        data["flash"] = t("consent_saved")
        return self._redirect(data, "/privacy/me")

    @staticmethod
    def _notice(t: Catalog, purpose: str, description: str) -> str:
        """The text the subject saw next to the button, recorded (as its hash) with the answer."""
        label, text = t.purpose(purpose, description)
        return f"{label}: {text} {t('consent_notice')}"

    async def sign_out(self, request: Request) -> Response:
        data, _ = self._state(request)
        form = await self._form(request, data)
        if form is not None:
            data = {"sid": data["sid"], "lang": data.get("lang")}
        return self._redirect({k: v for k, v in data.items() if v is not None}, "/privacy/")


def _known(access: AccessContext, jurisdiction: str) -> str | None:
    return jurisdiction if jurisdiction in access.purposes.jurisdictions else None
