"""Shared steps of the data-subject-rights tests."""

from __future__ import annotations

from cdp.access.gate import AccessContext
from cdp.dsr import service
from cdp.dsr.models import DsrRequest
from cdp.store import Store

OFFICER = AccessContext.operator("data_subject_rights")


def verified_request(store: Store, kind: str, profile_id: str) -> DsrRequest:
    """A request an officer received and verified (e.g. after checking the subject's documents)."""
    request = service.create_request(store, OFFICER, kind=kind, profile_id=profile_id, source="cli")
    return service.mark_verified(store, OFFICER, request.id, "officer_checked_documents")
