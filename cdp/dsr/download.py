"""Download tickets: how a door that answers with one JSON document (GraphQL) hands over an access or
portability archive without holding it in memory. The door issues a ticket for a request the caller may run;
the archive is built and sent by a streaming HTTP route, which runs `service.execute` — the same function as
every other door — and commits its audit entry before the first byte leaves.

A ticket is signed (HMAC-SHA256 under a key-store system secret every process shares) and names the request,
the API key and the purpose it was issued to, and when it expires (TICKET_LIFETIME). It is redeemed only by
the same key declaring the same purpose, before it expires, while the request is still waiting to be run: a
download completes the request, so a ticket is good for one download.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from cdp.access.gate import AccessContext
from cdp.dsr import service
from cdp.dsr.common import DsrError, audit_dsr, get_request, subject_group
from cdp.ids import utcnow
from cdp.store import Store

TICKET_LIFETIME = timedelta(minutes=5)
SIGNING_SECRET = "dsr-download-ticket"
EXPORT_KINDS = ("access", "portability")


class TicketRefused(PermissionError):
    """A ticket that cannot be redeemed; `status` is the HTTP status that says why (403 not this caller's or
    not genuine, 410 expired or already used)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Ticket:
    value: str
    request_id: str
    expires_at: datetime


def issue(session: Session, store: Store, access: AccessContext, request_id: str) -> Ticket:
    """A ticket for an access or portability request this caller may run now (the checks `execute` makes),
    audited as `dsr:download_issued`."""
    request = service.executable(session, access, request_id)
    if request.kind not in EXPORT_KINDS:
        raise DsrError(f"a {request.kind} request has no archive to download; execute it instead")
    group = subject_group(session, access, request)
    expires_at = utcnow() + TICKET_LIFETIME
    claims = {"request": request.id, "key": access.principal.key_id, "purpose": access.purpose,
              "expires": int(expires_at.timestamp())}  # fmt: skip
    payload = json.dumps(claims, sort_keys=True).encode()
    value = _encode(payload) + "." + _encode(_mac(store, payload))
    audit_dsr(session, access, request.id, "download_issued", subject_ids=group.member_ids, categories=[],
              document={"expires_at": expires_at})  # fmt: skip
    return Ticket(value, request.id, expires_at)


def redeem(session: Session, store: Store, access: AccessContext, ticket: str) -> str:
    """The id of the request a genuine, unexpired, unused ticket issued to this key and purpose names; raises
    TicketRefused otherwise. The caller then runs `service.execute` for it."""
    payload_text, _, mac_text = ticket.partition(".")
    try:
        payload, mac = _decode(payload_text), _decode(mac_text)
        genuine = hmac.compare_digest(mac, _mac(store, payload))
        claims = json.loads(payload) if genuine else {}
    except ValueError:
        genuine = False
    if not genuine:
        raise TicketRefused("not a download ticket this server issued")
    if claims["key"] != access.principal.key_id or claims["purpose"] != access.purpose:
        raise TicketRefused("this ticket was issued to another API key or for another purpose")
    if utcnow().timestamp() >= claims["expires"]:
        raise TicketRefused("this ticket has expired: ask for a new one", status=410)
    request = get_request(session, access, claims["request"], action="write")
    if request.status not in ("verified", "in_progress"):
        raise TicketRefused(f"this ticket was used: the request is {request.status}", status=410)
    return request.id


def _mac(store: Store, payload: bytes) -> bytes:
    return hmac.new(store.keystore.system_secret(SIGNING_SECRET), payload, hashlib.sha256).digest()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
