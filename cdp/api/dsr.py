"""Data-subject requests over GraphQL: subjects start and verify them; compliance officers list them by due
date, extend, refuse and execute them. Resolvers only translate: cdp.dsr.service does the work.

A GraphQL answer is one JSON document, so an access or portability archive does not travel in it: executing
such a request returns a download ticket (cdp/dsr/download.py), and GET ARCHIVE_PATH with the same API key and
purpose runs the request — `service.execute`, as every door does — and streams the archive once its audit
entry is committed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, cast

import strawberry
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.scalars import JSON

from cdp.access.gate import AccessContext
from cdp.api.access_log import note
from cdp.api.context import RequestContext
from cdp.api.http import HTTPError, error_response
from cdp.api.profiles import IdentifierKind
from cdp.api.types import check_first
from cdp.dsr import download, service, verification
from cdp.dsr.common import DsrError, RequestNotFound
from cdp.dsr.deadlines import Period
from cdp.dsr.models import DsrRequest as DsrRequestRow
from cdp.store import Store
from cdp.web.render import zip_download
from policies.errors import AccessDenied

ARCHIVE_PATH = "/dsr/archive/{ticket}"


@strawberry.enum
class DsrKind(enum.Enum):
    access = "access"
    portability = "portability"
    rectification = "rectification"
    erasure = "erasure"
    restriction = "restriction"
    objection = "objection"


@strawberry.type
class DataSubjectRequest:
    id: strawberry.ID
    kind: str
    status: str = strawberry.field(description="received | verified | in_progress | completed | refused")
    profile_id: strawberry.ID | None
    jurisdiction: str
    source: str
    received_at: datetime
    due_on: date
    original_due_on: date
    extension_reason: str | None
    verified_at: datetime | None
    verification_method: str | None
    closed_at: datetime | None
    refusal_reason: str | None
    certificate: JSON | None = strawberry.field(description="Erasure certificate, once erased.")

    @classmethod
    def of(cls, row: DsrRequestRow) -> DataSubjectRequest:
        return cls(
            id=strawberry.ID(row.id),
            kind=row.kind,
            status=row.status,
            profile_id=strawberry.ID(row.profile_id) if row.profile_id else None,
            jurisdiction=row.jurisdiction,
            source=row.source,
            received_at=row.received_at,
            due_on=row.due_on,
            original_due_on=row.original_due_on,
            extension_reason=row.extension_reason,
            verified_at=row.verified_at,
            verification_method=row.verification_method,
            closed_at=row.closed_at,
            refusal_reason=row.refusal_reason,
            certificate=json.loads(row.certificate) if row.certificate else None,
        )


@strawberry.type
class StartedRequest:
    """The same answer whether or not we hold data for the identifier: the code goes to the email on file."""

    id: strawberry.ID
    due_on: date


@strawberry.type
class VerifiedRequest:
    request: DataSubjectRequest
    token: str = strawberry.field(description="Data-subject API key for this profile, shown once.")


@strawberry.type
class DsrDownload:
    """Where an access or portability archive is downloaded: GET `url` (a path on this server) with the same
    API key and X-CDP-Purpose before `expiresAt`, once. The download runs the request."""

    url: str
    expires_at: datetime

    @classmethod
    def of(cls, ticket: download.Ticket) -> DsrDownload:
        return cls(url=ARCHIVE_PATH.format(ticket=ticket.value), expires_at=ticket.expires_at)


@strawberry.type
class DsrResult:
    request: DataSubjectRequest
    download: DsrDownload | None = strawberry.field(
        description="Access and portability: where to download the archive (the request completes then)."
    )
    summary: JSON | None


def _ctx(info: strawberry.Info) -> RequestContext:
    return info.context


def _result(outcome: service.Outcome) -> DsrResult:
    return DsrResult(
        request=DataSubjectRequest.of(outcome.request),
        download=None,
        summary=JSON(outcome.summary) if outcome.summary is not None else None,
    )


@strawberry.type
class DsrQuery:
    @strawberry.field(description="Data-subject requests, soonest due first; `after` is the last id of a page.")
    def dsr_requests(
        self, info: strawberry.Info, status: str | None = None, first: int = 20, after: strawberry.ID | None = None
    ) -> list[DataSubjectRequest]:
        ctx = _ctx(info)
        rows = service.list_requests(
            ctx.session, ctx.access, status=status, first=check_first(first), after=str(after) if after else None
        )
        return [DataSubjectRequest.of(r) for r in rows]

    @strawberry.field
    def dsr_request(self, info: strawberry.Info, id: strawberry.ID) -> DataSubjectRequest | None:
        ctx = _ctx(info)
        try:
            return DataSubjectRequest.of(service.load(ctx.session, ctx.access, str(id)))
        except RequestNotFound:
            return None


@strawberry.type
class DsrMutation:
    @strawberry.mutation(description="A subject starts a request with one identifier; a one-time code is "
                         "emailed to the address on file.")  # fmt: skip
    def start_dsr_request(
        self, info: strawberry.Info, kind: DsrKind, identifier_kind: IdentifierKind, value: str,
        country: str | None = None,
    ) -> StartedRequest:  # fmt: skip
        ctx = _ctx(info)
        identifier = service.SubjectIdentifier(identifier_kind.value, value, country)
        request = service.create_request(ctx.session, ctx.store, ctx.access, kind=kind.value, identifiers=[identifier],
                                         source="graphql")  # fmt: skip
        ctx.commit()  # the request stands even if the email cannot be sent now (send-code again later)
        verification.send_verification(ctx.session, ctx.store, request.id)
        ctx.commit()
        return StartedRequest(id=strawberry.ID(request.id), due_on=request.due_on)

    @strawberry.mutation(description="Check the emailed code; returns a data-subject token for the profile.")
    def verify_dsr_request(self, info: strawberry.Info, request_id: strawberry.ID, code: str) -> VerifiedRequest:
        ctx = _ctx(info)
        result = verification.verify_code(ctx.session, ctx.store, ctx.access, str(request_id), code)
        ctx.commit()  # a wrong code counts against the attempts, so it is committed before it is refused
        verified = result.accepted()
        return VerifiedRequest(request=DataSubjectRequest.of(verified.request), token=verified.token or "")

    @strawberry.mutation(description="An officer confirms the subject's identity by other means.")
    def confirm_dsr_identity(self, info: strawberry.Info, request_id: strawberry.ID, method: str) -> DataSubjectRequest:
        ctx = _ctx(info)
        request = service.mark_verified(ctx.session, ctx.access, str(request_id), method)
        ctx.commit()
        return DataSubjectRequest.of(request)

    @strawberry.mutation(description="Carry out a verified request. traits/identifiers: corrected values of a "
                         "rectification.")  # fmt: skip
    def execute_dsr_request(
        self, info: strawberry.Info, request_id: strawberry.ID, traits: JSON | None = None,
        identifiers: JSON | None = None,
    ) -> DsrResult:  # fmt: skip
        ctx = _ctx(info)
        request = service.load(ctx.session, ctx.access, str(request_id))
        if request.kind in download.EXPORT_KINDS:  # the archive is not put in a JSON answer: a ticket to it is
            ticket = download.issue(ctx.session, ctx.store, ctx.access, request.id)
            ctx.commit()
            return DsrResult(request=DataSubjectRequest.of(request), download=DsrDownload.of(ticket), summary=None)
        # JSON scalars arrive untyped; the corrected values are objects of name -> value
        outcome = ctx.store.run_until(
            lambda session: service.execute(
                session,
                ctx.store,
                ctx.access,
                str(request_id),
                traits=cast(dict[str, Any] | None, traits),
                identifiers=cast(dict[str, str] | None, identifiers),
            ),  # fmt: skip
            finished=lambda o: o.finished,  # an erasure's second step runs once its first is committed
        )
        return _result(outcome)

    @strawberry.mutation(description="End the restriction a completed restriction request put in place "
                         "(the subject must be told first, GDPR Art. 18(3)).")  # fmt: skip
    def lift_restriction(self, info: strawberry.Info, request_id: strawberry.ID) -> DsrResult:
        ctx = _ctx(info)
        outcome = service.lift_restriction(ctx.session, ctx.access, str(request_id))
        ctx.commit()
        return _result(outcome)

    @strawberry.mutation(description="Extend the deadline (GDPR: up to 2 months; CCPA: 45 days), with a reason, "
                         "on or before the original due date.")  # fmt: skip
    def extend_dsr_deadline(
        self, info: strawberry.Info, request_id: strawberry.ID, reason: str, months: int = 0, days: int = 0
    ) -> DataSubjectRequest:
        ctx = _ctx(info)
        request = service.extend_deadline(
            ctx.session, ctx.access, str(request_id), extension=Period(months=months, days=days), reason=reason
        )
        ctx.commit()
        return DataSubjectRequest.of(request)

    @strawberry.mutation(description="Refuse a request, with the reason the subject is given.")
    def refuse_dsr_request(self, info: strawberry.Info, request_id: strawberry.ID, reason: str) -> DataSubjectRequest:
        ctx = _ctx(info)
        request = service.refuse(ctx.session, ctx.access, str(request_id), reason)
        ctx.commit()
        return DataSubjectRequest.of(request)


def archive_route(store: Store, admit: Callable[[Session, Request], AccessContext]) -> Route:
    """GET ARCHIVE_PATH: the archive of the request a download ticket names, built by `service.execute` in its
    own transaction and streamed 64 KiB at a time once that has committed. `admit` authenticates the caller as
    /graphql does (API key, X-CDP-Purpose); the ticket must have been issued to that key and purpose."""

    def work(http: Request) -> Response:
        with store.session() as session:
            try:
                access = admit(session, http)
                note(http, role=access.principal.role, purpose=access.purpose)
                request_id = download.redeem(session, store, access, http.path_params["ticket"])
            except HTTPError as refused:
                return refused.response()
            except download.TicketRefused as refused:
                return error_response(refused.status, str(refused))
            except (PermissionError, AccessDenied) as refused:
                return error_response(403, str(refused))
            except RequestNotFound as missing:
                return error_response(404, str(missing))
        try:
            outcome = store.run_until(
                lambda s: service.execute(s, store, access, request_id), finished=lambda o: o.finished
            )
        except (PermissionError, AccessDenied) as refused:
            return error_response(403, str(refused))
        except DsrError as failed:
            return error_response(409, str(failed))
        if outcome.archive is None:  # a ticket is issued for access and portability requests only
            raise RuntimeError(f"request {request_id} produced no archive")
        return zip_download(outcome.archive, f"dsr-{request_id}.zip")

    async def endpoint(http: Request) -> Response:
        return await run_in_threadpool(work, http)  # database and crypto work stay off the event loop

    return Route(ARCHIVE_PATH, endpoint, methods=["GET"])
