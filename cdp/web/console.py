"""The compliance console at /console, for compliance officers and admins.

Sign-in takes a staff account's email, password and authenticator code, and starts a server-side session
under a fresh id (whatever cookie the browser brought is discarded: no session fixation). Every form carries a
CSRF token bound to the session id. Every page is a door like a GraphQL resolver: it builds an AccessContext
for the staff member's role and the page's declared purpose, calls one service in one transaction, and commits;
the services check the gate and write the audit entries.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import audit
from cdp.access.gate import AccessContext, policy_gate
from cdp.auth import staff
from cdp.auth.service import Principal
from cdp.compliance import incidents, lineage, records, ropa
from cdp.compliance.auditlog import AuditFilter, search, verify_chain
from cdp.dsr import deadlines, service
from cdp.dsr.common import DsrError, RequestNotFound
from cdp.dsr.deadlines import DeadlineError, Period
from cdp.identity.groups import ProfileNotFound
from cdp.ids import utcnow
from cdp.store import Store
from cdp.web.audit import audit_denial, audit_read
from cdp.web.cookies import CSRF_FIELD, CookieSession
from cdp.web.render import page, redirect, zip_download
from policies.errors import AccessDenied

QUEUE_PURPOSE = "data_subject_rights"  # the request queue: verify, extend, refuse, run
OVERSIGHT_PURPOSE = "legal_compliance"  # audit log, PII findings, ROPA, lineage, breaches
_REFUSALS = (DsrError, DeadlineError, RequestNotFound, incidents.IncidentError, audit.AuditError, LookupError,
             ValueError)  # fmt: skip
Handler = Callable[[Request], Awaitable[Response]]


def _parse_time(value: str, name: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{name}: expected a date and time such as 2026-05-01T09:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the console's times are UTC


def countdown(due: date | datetime, now: datetime | None = None) -> dict[str, Any]:
    """Time left to a deadline (a date is due at the end of that day, UTC); negative when overdue."""
    now = now or utcnow()
    end = due if isinstance(due, datetime) else datetime(due.year, due.month, due.day, 23, 59, 59, tzinfo=UTC)
    seconds = int((end - now).total_seconds())
    hours = abs(seconds) // 3600
    text = f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {abs(seconds) % 3600 // 60} min"
    return {"overdue": seconds < 0, "text": text, "iso": end.isoformat()}


class Console:
    def __init__(self, store: Store, cookies: CookieSession, signin_cookies: CookieSession) -> None:
        # The sign-in form's CSRF token lives in its own cookie, so loading the form (possibly cross-site, where
        # the SameSite=Strict session cookie is not sent) never overwrites a signed-in session's cookie.
        self.store, self.cookies, self.signin_cookies = store, cookies, signin_cookies

    def routes(self) -> list[Route]:
        s = self._signed_in
        return [
            Route("/signin", self.signin_form, methods=["GET"]),
            Route("/signin", self.signin, methods=["POST"]),
            Route("/signout", s(self.signout), methods=["POST"]),
            Route("/", s(self.queue), methods=["GET"]),
            Route("/requests/{request_id}", s(self.request_detail), methods=["GET"]),
            Route("/requests/{request_id}/{step}", s(self.request_step), methods=["POST"]),
            Route("/audit", s(self.audit_log), methods=["GET"]),
            Route("/audit/verify", s(self.audit_verify), methods=["POST"]),
            Route("/pii", s(self.pii), methods=["GET"]),
            Route("/reviews", s(self.reviews), methods=["GET"]),
            Route("/keys", s(self.keys), methods=["GET"]),
            Route("/ropa", s(self.ropa_page), methods=["GET"]),
            Route("/ropa.{fmt}", s(self.ropa_download), methods=["GET"]),
            Route("/lineage", s(self.lineage_page), methods=["GET"]),
            Route("/incidents", s(self.incident_list), methods=["GET"]),
            Route("/incidents", s(self.incident_open), methods=["POST"]),
            Route("/incidents/{incident_id}", s(self.incident_detail), methods=["GET"]),
            Route("/incidents/{incident_id}/{step}", s(self.incident_step), methods=["POST"]),
        ]

    # -- sessions ------------------------------------------------------------------------------------------
    def _signed_in(self, handler: Handler) -> Handler:
        """Pages for a signed-in staff member; a POST also needs the session's CSRF token."""

        async def guarded(request: Request) -> Response:
            data = self.cookies.load(request)
            with self.store.session() as session:
                account = staff.session_account(session, data["sid"])
            if account is None:  # no cookie set here: a cross-site request must not replace a live session's
                return redirect("/console/signin")
            request.state.data, request.state.staff = data, account
            if request.method == "POST":
                form = await request.form()
                if not self.cookies.csrf_ok(data, form.get(CSRF_FIELD)):
                    return self._forbidden(request, "form rejected: its CSRF token is missing or not this session's")
                request.state.form = {k: v for k, v in form.items() if isinstance(v, str)}
            return await handler(request)

        return guarded

    def _access(self, request: Request, purpose: str) -> AccessContext:
        account = request.state.staff
        return AccessContext.for_principal(Principal(f"staff:{account.id}", account.email, account.role), purpose)

    def _render(self, request: Request, template: str, code: int = 200, **context: Any) -> Response:
        account = getattr(request.state, "staff", None)
        cookies = self.cookies if account is not None else self.signin_cookies
        data = getattr(request.state, "data", None) or cookies.load(request)
        flash = data.pop("flash", None)
        response = page(
            request,
            f"console/{template}",
            {"csrf": cookies.csrf_token(data), "staff": account, "flash": flash, "now": utcnow(), **context},
            code,
        )
        cookies.save(response, data)
        return response

    def _redirect(self, data: dict[str, Any], url: str, flash: str | None = None) -> Response:
        if flash:
            data["flash"] = flash
        response = redirect(url)
        self.cookies.save(response, data)
        return response

    def _forbidden(self, request: Request, message: str) -> Response:
        return self._render(request, "error.html", 403, message=message)

    async def signin_form(self, request: Request) -> Response:
        return self._render(request, "signin.html")

    async def signin(self, request: Request) -> Response:
        data = self.signin_cookies.load(request)
        request.state.data = data
        form = await request.form()
        if not self.signin_cookies.csrf_ok(data, form.get(CSRF_FIELD)):
            return self._render(request, "signin.html", 403, error="form expired: reload the page and sign in")
        email, password, code = (str(form.get(name, "")) for name in ("email", "password", "code"))
        failed: staff.SignInFailed | None = None
        with self.store.transaction() as session:
            try:
                session_id = staff.start_session(session, staff.check_credentials(session, email, password, code))
            except staff.SignInFailed as exc:
                failed = exc  # committed all the same: the failed attempt counts towards the lockout
        if failed is not None:
            return self._render(request, "signin.html", 401, error=str(failed))
        response = self._redirect({"sid": session_id}, "/console/")  # a new id: no cookie sent in is signed in
        self.signin_cookies.clear(response)
        return response

    async def signout(self, request: Request) -> Response:
        data = request.state.data
        with self.store.transaction() as session:
            staff.end_session(session, data["sid"])
        response = redirect("/console/signin")
        self.cookies.clear(response)
        return response

    # -- one governed call per page --------------------------------------------------------------------------
    def _call(self, request: Request, purpose: str, work: Callable[[Any, AccessContext], Any]) -> Any:
        access = self._access(request, purpose)
        try:
            with self.store.transaction() as session:
                result = work(session, access)
                audit_read(session, access, request.url.path)
                return result
        except AccessDenied as denied:
            audit_denial(self.store, access, request.url.path, denied)
            raise

    async def _page(self, request: Request, template: str, purpose: str,
                    work: Callable[[Any, AccessContext], dict[str, Any]]) -> Response:  # fmt: skip
        try:
            context = self._call(request, purpose, work)
        except AccessDenied as exc:
            return self._forbidden(request, str(exc))
        except _REFUSALS as exc:
            return self._render(request, "error.html", 400, message=str(exc))
        return self._render(request, template, **context)

    async def _step(
        self, request: Request, back: str, work: Callable[[Any, AccessContext], str], purpose: str
    ) -> Response:
        try:
            message = self._call(request, purpose, work)
        except AccessDenied as exc:
            return self._forbidden(request, str(exc))
        except _REFUSALS as exc:
            return self._redirect(request.state.data, back, f"refused: {exc}")
        return self._redirect(request.state.data, back, message)

    # -- data-subject requests ---------------------------------------------------------------------------------
    async def queue(self, request: Request) -> Response:
        status = request.query_params.get("status") or None

        def work(session: Any, access: AccessContext) -> dict[str, Any]:
            rows = service.list_requests(session, access, status=status, first=100)
            return {"requests": rows, "countdowns": {r.id: countdown(r.due_on) for r in rows}, "status": status}

        return await self._page(request, "queue.html", QUEUE_PURPOSE, work)

    async def request_detail(self, request: Request) -> Response:
        request_id = request.path_params["request_id"]

        def work(session: Any, access: AccessContext) -> dict[str, Any]:
            row = service.load(session, access, request_id)
            certificate = json.loads(row.certificate) if row.certificate else None
            return {"r": row, "countdown": countdown(row.due_on), "law": deadlines.rule_for(row.jurisdiction).law,
                    "certificate": certificate}  # fmt: skip

        return await self._page(request, "request.html", QUEUE_PURPOSE, work)

    async def request_step(self, request: Request) -> Response:
        request_id, step = request.path_params["request_id"], request.path_params["step"]
        form: dict[str, str] = request.state.form
        back = f"/console/requests/{request_id}"

        def work(session: Any, access: AccessContext) -> str:
            if step == "verify":
                service.mark_verified(session, access, request_id, form.get("method", "").strip() or "officer")
                return "identity confirmed"
            if step == "extend":
                period = Period(months=int(form.get("months") or 0), days=int(form.get("days") or 0))
                row = service.extend_deadline(session, access, request_id, extension=period,
                                              reason=form.get("reason", ""))  # fmt: skip
                return f"deadline extended to {row.due_on}"
            if step == "refuse":
                service.refuse(session, access, request_id, form.get("reason", ""))
                return "request refused"
            raise LookupError(f"unknown step {step!r}")

        if step == "run":
            return await self._run(request, request_id, back)
        return await self._step(request, back, work, QUEUE_PURPOSE)

    async def _run(self, request: Request, request_id: str, back: str) -> Response:
        access = self._access(request, QUEUE_PURPOSE)
        try:
            outcome = self.store.run_until(
                lambda session: service.execute(session, self.store, access, request_id),
                finished=lambda o: o.finished,  # an erasure's second step runs once its first is committed
            )
        except AccessDenied as exc:
            audit_denial(self.store, access, request.url.path, exc)
            return self._forbidden(request, str(exc))
        except _REFUSALS as exc:
            return self._redirect(request.state.data, back, f"refused: {exc}")
        if outcome.archive is not None:
            return zip_download(outcome.archive, f"dsr-{request_id}.zip")
        return self._redirect(request.state.data, back, f"{outcome.request.kind} request completed")

    # -- audit log, PII, reviews, keys ----------------------------------------------------------------------------
    async def audit_log(self, request: Request) -> Response:
        q = request.query_params

        def work(session: Any, access: AccessContext) -> dict[str, Any]:
            where = AuditFilter(
                actor=q.get("actor") or None,
                subject_id=q.get("subject") or None,
                purpose=q.get("purpose") or None,
                since=_parse_time(q.get("since", ""), "since"),
                until=_parse_time(q.get("until", ""), "until"),
                after_seq=int(q["after"]) if q.get("after", "").isdigit() else None,
            )
            return {"entries": search(session, access, where, limit=100), "q": q}

        return await self._page(request, "audit.html", OVERSIGHT_PURPOSE, work)

    async def audit_verify(self, request: Request) -> Response:
        def work(session: Any, access: AccessContext) -> str:
            result = verify_chain(session, access)
            if result.ok:
                return f"chain intact: {result.entries_checked} entries verified"
            return f"chain BROKEN at entry {result.first_broken_seq}: {result.reason}"

        return await self._step(request, "/console/audit", work, OVERSIGHT_PURPOSE)

    async def pii(self, request: Request) -> Response:
        return await self._page(request, "pii.html", OVERSIGHT_PURPOSE,
                                lambda s, a: {"pii": records.pii_overview(s, a)})  # fmt: skip

    async def reviews(self, request: Request) -> Response:
        return await self._page(request, "reviews.html", OVERSIGHT_PURPOSE,
                                lambda s, a: {"items": records.review_items(s, a)})  # fmt: skip

    async def keys(self, request: Request) -> Response:
        return await self._page(request, "keys.html", OVERSIGHT_PURPOSE,
                                lambda s, a: {"keys": records.api_keys(s, a)})  # fmt: skip

    # -- record of processing, lineage ------------------------------------------------------------------------
    def _ropa(self, session: Any, access: AccessContext) -> ropa.Ropa:
        access.forbid_subject_tokens()
        return ropa.build(policy_gate(), ropa.destination_names(session), utcnow().date())

    async def ropa_page(self, request: Request) -> Response:
        return await self._page(request, "ropa.html", OVERSIGHT_PURPOSE, lambda s, a: {"ropa": self._ropa(s, a)})

    async def ropa_download(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ropa.FORMATS:
            return self._render(request, "error.html", 404, message=f"format: one of {', '.join(ropa.FORMATS)}")
        text = ropa.render(self._call(request, OVERSIGHT_PURPOSE, self._ropa), fmt)
        media = {"json": "application/json", "csv": "text/csv", "yaml": "application/yaml"}[fmt]
        response = PlainTextResponse(text, media_type=media)
        response.headers["Content-Disposition"] = f'attachment; filename="ropa.{fmt}"'
        return response

    async def lineage_page(self, request: Request) -> Response:
        profile_id, trait = request.query_params.get("profile", "").strip(), request.query_params.get("trait", "")

        def work(session: Any, access: AccessContext) -> dict[str, Any]:
            if not profile_id or not trait.strip():
                return {"result": None, "profile": profile_id, "trait": trait}
            try:
                found = lineage.trait_lineage(session, self.store, access, profile_id, trait.strip())
            except (ProfileNotFound, lineage.TraitNotFound) as exc:
                return {"result": None, "profile": profile_id, "trait": trait, "error": str(exc)}
            return {"result": found, "profile": profile_id, "trait": trait}

        return await self._page(request, "lineage.html", OVERSIGHT_PURPOSE, work)

    # -- breach register -------------------------------------------------------------------------------------------
    async def incident_list(self, request: Request) -> Response:
        def work(session: Any, access: AccessContext) -> dict[str, Any]:
            views = incidents.list_incidents(session, access)
            countdowns = {v.incident.id: countdown(v.incident.regulator_due_at) for v in views}
            return {"incidents": views, "countdowns": countdowns, "hours": incidents.regulator_hours()}

        return await self._page(request, "incidents.html", OVERSIGHT_PURPOSE, work)

    async def incident_open(self, request: Request) -> Response:
        form: dict[str, str] = request.state.form
        created: list[str] = []

        def work(session: Any, access: AccessContext) -> str:
            since, until = _parse_time(form.get("since", ""), "since"), _parse_time(form.get("until", ""), "until")
            aware = _parse_time(form.get("aware_at", ""), "aware_at") or utcnow()
            window = (since, until) if since and until else None
            incident = incidents.open_incident(session, access, title=form.get("title", ""),
                                               description=form.get("description", ""), aware_at=aware,
                                               window=window, actor=form.get("actor") or None)  # fmt: skip
            created.append(incident.id)
            return "incident opened"

        response = await self._step(request, "/console/incidents", work, OVERSIGHT_PURPOSE)
        if created:
            return self._redirect(request.state.data, f"/console/incidents/{created[0]}")
        return response

    async def incident_detail(self, request: Request) -> Response:
        incident_id = request.path_params["incident_id"]

        def work(session: Any, access: AccessContext) -> dict[str, Any]:
            view = incidents.view_incident(session, access, incident_id)
            events = [(e, json.loads(e.detail)) for e in view.events]
            return {
                "v": view,
                "events": events,
                "drafts": incidents.drafts(view),
                "countdown": countdown(view.incident.regulator_due_at),
                "jurisdictions": incidents.jurisdictions(),
            }

        return await self._page(request, "incident.html", OVERSIGHT_PURPOSE, work)

    async def incident_step(self, request: Request) -> Response:
        incident_id, step = request.path_params["incident_id"], request.path_params["step"]
        form: dict[str, str] = request.state.form

        def work(session: Any, access: AccessContext) -> str:
            if step == "update":
                incidents.add_update(session, access, incident_id, form.get("note", ""))
                return "update recorded"
            if step == "assess":
                since, until = _parse_time(form.get("since", ""), "since"), _parse_time(form.get("until", ""), "until")
                if since is None or until is None:
                    raise ValueError("since and until: both are needed to assess affected customers")
                counts = incidents.assess(session, access, incident_id, since=since, until=until,
                                          actor=form.get("actor") or None)  # fmt: skip
                return f"{sum(counts.values())} affected customers"
            if step == "notify":
                incidents.record_notification(session, access, incident_id, form.get("jurisdiction", ""),
                                              form.get("note", ""))  # fmt: skip
                return "notification recorded"
            if step == "close":
                incidents.close_incident(session, access, incident_id, form.get("summary", ""))
                return "incident closed"
            raise LookupError(f"unknown step {step!r}")

        return await self._step(request, f"/console/incidents/{incident_id}", work, OVERSIGHT_PURPOSE)
