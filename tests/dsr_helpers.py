"""Shared steps of the data-subject-rights tests."""

from __future__ import annotations

import re
from email import message_from_bytes
from typing import Any

from cdp.access.gate import AccessContext
from cdp.dsr import service, verification
from cdp.dsr.models import DsrRequest
from cdp.dsr.settings import DsrSettings
from cdp.store import Store

OFFICER = AccessContext.operator("data_subject_rights")


# The services driven as a door drives them: one transaction per call, committed by the caller.
def create_request(store: Store, access: AccessContext, **kw: Any) -> DsrRequest:
    return store.run(lambda s: service.create_request(s, store, access, **kw))


def mark_verified(store: Store, access: AccessContext, request_id: str, method: str) -> DsrRequest:
    return store.run(lambda s: service.mark_verified(s, access, request_id, method))


def extend_deadline(store: Store, access: AccessContext, request_id: str, **kw: Any) -> DsrRequest:
    return store.run(lambda s: service.extend_deadline(s, access, request_id, **kw))


def refuse(store: Store, access: AccessContext, request_id: str, reason: str) -> DsrRequest:
    return store.run(lambda s: service.refuse(s, access, request_id, reason))


def list_requests(store: Store, access: AccessContext, **kw: Any) -> list[DsrRequest]:
    return store.run(lambda s: service.list_requests(s, access, **kw))


def load(store: Store, access: AccessContext, request_id: str) -> DsrRequest:
    return store.run(lambda s: service.load(s, access, request_id))


def execute(store: Store, access: AccessContext, request_id: str, **kw: Any) -> service.Outcome:
    return store.run_until(lambda s: service.execute(s, store, access, request_id, **kw), finished=lambda o: o.finished)


def send_verification(store: Store, request_id: str, settings: DsrSettings | None = None) -> bool:
    return store.run(lambda s: verification.send_verification(s, store, request_id, settings))


def verify_code(store: Store, access: AccessContext, request_id: str, code: str) -> verification.Verified:
    return store.run(lambda s: verification.verify_code(s, store, access, request_id, code)).accepted()


def verified_request(store: Store, kind: str, profile_id: str) -> DsrRequest:
    """A request an officer received and verified (e.g. after checking the subject's documents)."""
    request = create_request(store, OFFICER, kind=kind, profile_id=profile_id, source="cli")
    return mark_verified(store, OFFICER, request.id, "officer_checked_documents")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802 - aiosmtpd's hook
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"

    def code(self) -> str:
        body = message_from_bytes(self.messages[-1]).get_payload(decode=True).decode()
        return re.search(r"code: (\d{8})", body).group(1)
