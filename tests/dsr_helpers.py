"""Shared steps of the data-subject-rights tests."""

from __future__ import annotations

import re
from email import message_from_bytes

from cdp.access.gate import AccessContext
from cdp.dsr import service
from cdp.dsr.models import DsrRequest
from cdp.store import Store

OFFICER = AccessContext.operator("data_subject_rights")


def verified_request(store: Store, kind: str, profile_id: str) -> DsrRequest:
    """A request an officer received and verified (e.g. after checking the subject's documents)."""
    request = service.create_request(store, OFFICER, kind=kind, profile_id=profile_id, source="cli")
    return service.mark_verified(store, OFFICER, request.id, "officer_checked_documents")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802 - aiosmtpd's hook
        self.messages.append(envelope.content)
        return "250 Message accepted for delivery"

    def code(self) -> str:
        body = message_from_bytes(self.messages[-1]).get_payload(decode=True).decode()
        return re.search(r"code: (\d{8})", body).group(1)
