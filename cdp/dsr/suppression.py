"""The suppression list: keyed hashes of erased subjects' identifiers, checked before anything is ingested.

The hash is the identifier's blind index (HMAC keyed by the key store's index key, which is not per profile
and therefore survives erasure). A restored backup of the data database cannot bring the person back
through ingestion: their identifiers are refused here, and their old ciphertexts need data keys that are gone.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session, col

from cdp.dsr.models import Suppression
from cdp.identity.resolve import NormalizedIdentifier

SUPPRESSED = "identifiers: this subject was erased; the event is suppressed"


def suppressed(session: Session, identifiers: Iterable[NormalizedIdentifier]) -> set[tuple[str, bytes]]:
    """The (kind, blind index) pairs among these that belong to erased subjects: one query per 500."""
    wanted = {(i.kind, i.blind_index) for i in identifiers}
    indexes = sorted({b for _, b in wanted})
    kinds = sorted({k for k, _ in wanted})
    found: set[tuple[str, bytes]] = set()
    for start in range(0, len(indexes), 500):
        rows = session.execute(  # both columns constrained, so the (kind, blind_index) index is used
            select(col(Suppression.kind), col(Suppression.blind_index)).where(
                col(Suppression.kind).in_(kinds), col(Suppression.blind_index).in_(indexes[start : start + 500])
            )
        )
        found |= {(kind, bytes(bidx)) for kind, bidx in rows} & wanted
    return found
