"""Events that carry the customer's consent answer given elsewhere (a shop's marketing checkbox): stored
through the one ingest service, then the answer appended to the consent ledger for the resolved customer, in
the same transaction. A replayed event (a duplicate) records nothing again, nor does an unchanged answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from cdp.access.gate import AccessContext
from cdp.consents.service import record_consent
from cdp.identity.groups import load_group
from cdp.ingest.service import IngestOutcome, ingest
from cdp.store import Store
from consent.ledger import current_state


@dataclass(frozen=True)
class ConsentAnswer:
    purpose: str
    status: str  # granted | withdrawn | denied
    source: str
    recorded_at: datetime | None = None


def ingest_with_consent(
    session: Session,
    store: Store,
    access: AccessContext,
    raw_events: Sequence[object],
    answers: dict[int, list[ConsentAnswer]],
) -> list[IngestOutcome]:
    """`answers[i]`: the consent answers event i carries."""
    outcomes = ingest(session, store, access, raw_events)
    for outcome in outcomes:
        if outcome.status != "stored" or outcome.profile_id is None:
            continue
        for answer in answers.get(outcome.index, []):
            group = load_group(session, outcome.profile_id)
            latest = current_state(session, group.member_ids, [answer.purpose]).get(answer.purpose)
            if latest is not None and latest.status == answer.status:
                continue
            record_consent(
                session,
                access,
                profile_id=group.root.id,
                purpose=answer.purpose,
                status=answer.status,
                source=answer.source,
                recorded_at=answer.recorded_at,
            )
    return outcomes
