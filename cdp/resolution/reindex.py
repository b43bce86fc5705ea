"""Re-indexing stored identifiers after the canonical forms of policies/identity.yaml changed.

A blind index is an HMAC of the normalized value. An identifier stored before a rule changed its canonical form
(a Gmail address stored as j.smith+shop@gmail.com before dots and +tags stopped mattering) keeps the index of
its old form, which no lookup computes any more: the customer is not found by that address, and the next
record bringing it starts a new profile. Re-indexing decrypts each stored identifier, normalizes it again and,
where the canonical form differs, moves the row to the canonical form, deciding as resolution would when that
form is already held:

- held by nobody: the row is re-keyed (new blind index, the canonical value encrypted again);
- held within the row's own merge group: the row is a duplicate of what the group holds, and is removed (its
  shared-value count goes to the row that stays);
- held by another group: the two groups join when resolution would join them (every per-kind rule holds for
  the union, no person kept them apart, the value is not shared too widely), with a merge record that unmerge
  undoes; otherwise a review item asks a person, and the row keeps its old form until they decide.

Restricted customers are not processed: their identifiers are neither read nor moved, and nobody is joined to
them, until the restriction is lifted and the command run again. Rows are read in id order, `limit` at a time
after a cursor, so a caller can commit batch by batch; a second run changes nothing.

The suppression list cannot be re-indexed this way: it holds erased subjects' blind indexes only, never their
values (ingestion checks it under the earlier forms as well: `rules.earlier_forms`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import bindparam, delete, select, update
from sqlmodel import Session, col

from cdp.access.audit import audit_in
from cdp.access.gate import AccessContext
from cdp.categories import identifier_category
from cdp.crypto.cipher import DecryptionError
from cdp.crypto.keystore import BlindIndexer, KeyStore
from cdp.db import table_of
from cdp.identity.models import Identity, Profile
from cdp.identity.resolve import BatchResolver, NormalizedIdentifier, rule_violations
from cdp.identity.rules import InvalidIdentifier, identity_rules, normalize, placeholder_reason, rules
from cdp.resolution.service import CATEGORY, ResolutionError, authorize
from cdp.store import Store

BATCH = 500
OUTCOMES = ("scanned", "reindexed", "duplicates", "merged", "review_items", "kept", "skipped")


@dataclass
class ReindexBatch:
    """What one batch did. counts: scanned rows; reindexed (moved to the canonical form); duplicates (removed:
    the group held the canonical form); merged (groups joined through it); review_items (opened); kept (left
    in the old form: for a person to decide, open or answered, or held by a restricted customer, or a value
    shared too widely); skipped (a restricted customer's, unreadable, no longer valid, or a placeholder)."""

    last_id: str | None
    finished: bool
    counts: Counter[str] = field(default_factory=Counter)
    read: set[str] = field(default_factory=set)  # profiles whose identifiers were decrypted
    changed: set[str] = field(default_factory=set)  # profiles whose identifiers or merge group changed


def reindex_identifiers(
    session: Session,
    store: Store,
    access: AccessContext,
    *,
    kinds: list[str] | None = None,
    after: str | None = None,
    batch_size: int = BATCH,
) -> ReindexBatch:
    """One batch of `cdp identity reindex`: the next stored identifiers after the id `after`, moved to their
    canonical form under policies/identity.yaml. It decrypts identifiers and rewrites them, so it needs read
    and write on their categories besides write on user.unique_id (purpose identity_resolution, staff only);
    it is audited with every customer whose identifiers it read. The door commits each batch and passes its
    last id to the next."""
    authorize(access, action="write", field="reindexIdentifiers")
    chosen = sorted(set(kinds or rules()))
    unknown = sorted(set(chosen) - set(rules()))
    if unknown:
        raise ResolutionError(f"kind: unknown {', '.join(unknown)}; expected one of {', '.join(sorted(rules()))}")
    categories = sorted({identifier_category(kind) for kind in chosen})
    for category in categories:
        for action in ("read", "write"):
            access.require(category, action=action, field="reindexIdentifiers")
    batch = _reindex_batch(session, store.keystore, store.indexer, kinds=chosen, after=after, limit=batch_size)
    audit_in(
        session,
        access,
        operation="identity.reindex",
        document=f"reindex {','.join(chosen)} after {after or 'start'}",
        outcome="allowed",
        subject_ids=sorted(batch.read | batch.changed),
        categories=sorted({*categories, CATEGORY}),
        detail=", ".join(f"{name} {batch.counts[name]}" for name in OUTCOMES),
    )
    return batch


def _reindex_batch(
    session: Session,
    keystore: KeyStore,
    indexer: BlindIndexer,
    *,
    kinds: list[str],
    after: str | None,
    limit: int,
) -> ReindexBatch:
    """Re-index those of the next `limit` identifiers after the id `after` (None: from the start) that are of
    these kinds. The rows are walked in primary-key order whatever the kinds: a kind filter in SQL lets the
    planner pick the (kind, blind index) index and sort every remaining row for each batch."""
    query = select(Identity).order_by(col(Identity.id)).limit(limit)
    if after is not None:
        query = query.where(col(Identity.id) > after)
    fetched = list(session.execute(query).scalars())
    rows = [row for row in fetched if row.kind in kinds]
    batch = ReindexBatch(last_id=fetched[-1].id if fetched else after, finished=len(fetched) < limit)
    batch.counts["scanned"] = len(rows)
    active = _active(session, {row.profile_id for row in rows})
    keystore.prefetch(row.profile_id for row in rows if row.profile_id in active)
    moved: list[tuple[Identity, NormalizedIdentifier]] = []
    for row in rows:
        if row.profile_id not in active:  # a restricted customer is not processed (read nor linked)
            batch.counts["skipped"] += 1
            continue
        batch.read.add(row.profile_id)
        canonical = _canonical(keystore, row)
        if canonical is None or placeholder_reason(row.kind, canonical):
            batch.counts["skipped"] += 1
            continue
        index = indexer.index(row.kind, canonical)
        if index != bytes(row.blind_index):
            moved.append((row, NormalizedIdentifier(row.kind, canonical, index)))
    if moved:
        _Mover(session, keystore, batch).move(moved)
    return batch


def _active(session: Session, profile_ids: set[str]) -> set[str]:
    """Those of these profiles that may be processed: not restricted (nor erased)."""
    return set(
        session.execute(
            select(col(Profile.id)).where(col(Profile.id).in_(sorted(profile_ids)), col(Profile.status) == "active")
        ).scalars()
    )


def _canonical(keystore: KeyStore, row: Identity) -> str | None:
    """The stored value in today's canonical form; None when it cannot be read or is no longer valid."""
    try:
        return normalize(row.kind, keystore.decrypt(row.profile_id, "identity", "value", row.id, row.value_ct))
    except (DecryptionError, InvalidIdentifier):
        return None


class _Mover:
    """Moves rows to their canonical forms, deciding collisions with a BatchResolver as ingestion would."""

    def __init__(self, session: Session, keystore: KeyStore, batch: ReindexBatch) -> None:
        self.session, self.keystore, self.batch = session, keystore, batch
        self.resolver = BatchResolver(session, keystore)
        self.rekeyed: list[dict] = []
        self.removed: list[str] = []
        self.active_holders: set[str] = set()

    def move(self, moved: list[tuple[Identity, NormalizedIdentifier]]) -> None:
        self.resolver.preload(ident for _, ident in moved)
        self.resolver.load_groups({row.profile_id for row, _ in moved})
        self.active_holders = _active(self.session, set(self.resolver.holders.values()))
        for row, ident in moved:
            self._move(row, ident)
        table = table_of(Identity)
        if self.removed:
            self.session.connection().execute(delete(table).where(table.c.id.in_(self.removed)))
        if self.rekeyed:
            self.session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(blind_index=bindparam("index"), value_ct=bindparam("ciphertext")),
                self.rekeyed,
            )
        self.resolver.flush()  # merge links and records, review items, shared-value counters

    def _move(self, row: Identity, ident: NormalizedIdentifier) -> None:
        resolver, counts = self.resolver, self.batch.counts
        key, old = (ident.kind, ident.blind_index), bytes(row.blind_index)
        root = resolver.root_of(row.profile_id)
        holder = resolver.holders.get(key)
        if holder is None:
            self._rekey(row, ident, root, old)
            return
        other = resolver.root_of(holder)
        if other != root:
            if holder not in self.active_holders:
                counts["kept"] += 1  # a restricted customer is not linked to anyone while restricted
                return
            if resolver.unrelated.get(key, 0) > identity_rules().max_unrelated_links:
                counts["kept"] += 1  # a suspicious shared value links nothing (the shared-value rule)
                return
            if self._brings_strong_identifier(root, other, row):
                resolver.count_unrelated(key)
            if not self._join(root, other, row, ident, old):
                return
        self._remove_duplicate(row, key, old)

    def _rekey(self, row: Identity, ident: NormalizedIdentifier, root: str, old: bytes) -> None:
        resolver = self.resolver
        key = (ident.kind, ident.blind_index)
        resolver.holders[key], resolver.identity_ids[key] = row.profile_id, row.id
        self.active_holders.add(row.profile_id)  # only active customers' rows are moved
        resolver.unrelated[key] = row.unrelated_links
        resolver.held[root][ident.kind].discard(old)
        resolver.held[root][ident.kind].add(ident.blind_index)
        ciphertext = self.keystore.encrypt(row.profile_id, "identity", "value", row.id, ident.value)
        self.rekeyed.append({"row_id": row.id, "index": ident.blind_index, "ciphertext": ciphertext})
        self.batch.counts["reindexed"] += 1
        self.batch.changed.add(row.profile_id)

    def _brings_strong_identifier(self, root: str, other: str, row: Identity) -> bool:
        """Whether the row's group holds a strong identifier the other group does not (besides the row itself):
        what makes ingestion count a record matching through one value as unrelated to it."""
        held, theirs = self.resolver.held[root], self.resolver.held[other]
        return any(
            rules()[kind].strong and values - theirs.get(kind, set()) - {bytes(row.blind_index)}
            for kind, values in held.items()
        )

    def _join(self, root: str, other: str, row: Identity, ident: NormalizedIdentifier, old: bytes) -> bool:
        """Join the two groups when every rule allows it; otherwise ask a person. True when joined."""
        resolver = self.resolver
        mine = {kind: set(values) for kind, values in resolver.held[root].items()}
        mine[ident.kind] = (mine.get(ident.kind, set()) - {old}) | {ident.blind_index}
        problems = rule_violations([mine, resolver.held[other]])
        if not problems and resolver.kept_apart(root, [other]):
            problems = ["kept apart by a person's decision"]
        if problems:
            item = resolver.review([root, other], problems, [ident.kind], None)
            self.batch.counts["review_items"] += item is not None
            self.batch.counts["kept"] += 1
            return False
        survivor, absorbed = sorted((root, other), key=lambda r: (resolver.created_at[r], r))
        resolver.link(
            survivor,
            absorbed,
            kind=ident.kind,
            identity_id=resolver.identity_ids[(ident.kind, ident.blind_index)],
            event_id=None,
            reason=f"re-index: the same {ident.kind} in its canonical form",
        )
        self.batch.counts["merged"] += 1
        self.batch.changed.update(resolver.members(survivor))
        return True

    def _remove_duplicate(self, row: Identity, key: tuple[str, bytes], old: bytes) -> None:
        resolver = self.resolver
        resolver.held[resolver.root_of(row.profile_id)][row.kind].discard(old)
        if row.unrelated_links:
            resolver.count_unrelated(key, row.unrelated_links)
        self.removed.append(row.id)
        self.batch.counts["duplicates"] += 1
        self.batch.changed.add(row.profile_id)
