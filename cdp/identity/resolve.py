"""Identity resolution: incoming identifiers -> the profile they belong to, merging conservatively.

A wrong merge is a privacy incident (one customer sees another's data in an access export), so a merge
happens only when every per-kind rule still holds for the combined profile; otherwise the profiles stay
apart and a review item is opened. Merges are links (`merged_into` + a MergeRecord), so unmerge is exact.

Ingestion resolves a whole batch against state loaded in a few bulk queries (`BatchResolver`): who holds
each identifier, the merge groups involved and their identifiers. Decisions are made in memory and written
with one multi-row INSERT per table; the unique (kind, blind index) constraint still guards concurrent
writers, and the caller retries the batch when it fires.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session, col

from cdp.crypto.keystore import BlindIndexer, KeyStore
from cdp.db import table_of
from cdp.identity.models import Identity, MergeRecord, Profile, ReviewItem
from cdp.identity.rules import InvalidIdentifier, is_blocked, normalize, rules
from cdp.ids import new_id, utcnow

CHUNK = 500  # bound on bound parameters per IN (...) query


@dataclass(frozen=True)
class NormalizedIdentifier:
    kind: str
    value: str
    blind_index: bytes


@dataclass
class Resolution:
    profile_id: str  # the profile the record is attached to (holder of its identifiers, or the new profile)
    root_id: str  # the surviving root of its merge group
    created: bool = False
    merged: list[str] = field(default_factory=list)  # roots absorbed by this record
    review_item_id: str | None = None
    warnings: list[str] = field(default_factory=list)


class MergeError(ValueError):
    pass


def normalize_identifiers(
    indexer: BlindIndexer, identifiers: dict[str, str], country: str | None
) -> tuple[list[NormalizedIdentifier], list[str]]:
    """Normalize and blind-index; blocked values are dropped with a warning (they must never link)."""
    result, warnings = [], []
    for kind, raw in identifiers.items():
        if is_blocked(kind, str(raw).strip().lower()):
            warnings.append(f"identifiers.{kind}: blocked placeholder value ignored")
            continue
        try:
            value = normalize(kind, raw, country)
        except InvalidIdentifier as exc:
            raise InvalidIdentifier(f"identifiers.{exc}") from None
        if is_blocked(kind, value):
            warnings.append(f"identifiers.{kind}: blocked placeholder value ignored")
            continue
        result.append(NormalizedIdentifier(kind, value, indexer.index(kind, value)))
    return result, warnings


def _rule_violations(held: dict[str, set[bytes]]) -> list[str]:
    problems = []
    for kind, values in held.items():
        rule = rules()[kind]
        if rule.unique and len(values) > 1:
            problems.append(f"{kind}: would hold {len(values)} different values (unique per profile)")
        elif len(values) > rule.limit:
            problems.append(f"{kind}: would hold {len(values)} values (limit {rule.limit})")
    return problems


def _chunks(values: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class BatchResolver:
    """Resolution state for one batch in one transaction: loaded in bulk, decided in memory, written once."""

    def __init__(self, session: Session, keystore: KeyStore) -> None:
        self.session, self.keystore = session, keystore
        self.holders: dict[tuple[str, bytes], str] = {}
        self.identity_ids: dict[tuple[str, bytes], str] = {}
        self.parent: dict[str, str | None] = {}
        self.created_at: dict[str, datetime] = {}
        self.children: dict[str, list[str]] = defaultdict(list)
        self.held: dict[str, dict[str, set[bytes]]] = {}  # root -> kind -> blind indexes of the whole group
        self._profiles: list[dict] = []
        self._identities: list[dict] = []
        self._merges: list[dict] = []
        self._reviews: list[dict] = []
        self._relinks: list[dict] = []

    # -- loading -----------------------------------------------------------------------------------
    def preload(self, identifiers: Iterable[NormalizedIdentifier]) -> None:
        wanted = {(i.kind, i.blind_index) for i in identifiers}
        kinds = sorted({k for k, _ in wanted})
        for chunk in _chunks(sorted({b for _, b in wanted})):
            # kind IN (...) AND blind_index IN (...) lets the (kind, blind_index) unique index serve the look-up
            rows = self.session.execute(
                select(col(Identity.id), col(Identity.kind), col(Identity.blind_index), col(Identity.profile_id)).where(
                    col(Identity.kind).in_(kinds), col(Identity.blind_index).in_(chunk)
                )
            )
            for identity_id, kind, bidx, profile_id in rows:
                key = (kind, bytes(bidx))
                if key in wanted:
                    self.holders[key], self.identity_ids[key] = profile_id, identity_id
        self.load_groups(set(self.holders.values()))

    def load_groups(self, profile_ids: set[str]) -> None:
        """Parent chains up to the roots, then every member and identifier of those groups."""
        frontier = profile_ids - self.parent.keys()
        while frontier:
            for chunk in _chunks(sorted(frontier)):
                for pid, parent, created in self.session.execute(
                    select(col(Profile.id), col(Profile.merged_into), col(Profile.created_at)).where(
                        col(Profile.id).in_(chunk)
                    )
                ):
                    self.parent[pid], self.created_at[pid] = parent, created
            frontier = {p for p in (self.parent[f] for f in frontier) if p} - self.parent.keys()
        roots = {self.root_of(p) for p in profile_ids} - self.held.keys()
        members_of = {r: [r] for r in roots}
        owner = {r: r for r in roots}
        frontier = set(roots)
        while frontier:
            found: set[str] = set()
            for chunk in _chunks(sorted(frontier)):
                for pid, parent, created in self.session.execute(
                    select(col(Profile.id), col(Profile.merged_into), col(Profile.created_at)).where(
                        col(Profile.merged_into).in_(chunk)
                    )
                ):
                    self.parent[pid], self.created_at[pid] = parent, created
                    owner[pid] = owner[parent]
                    members_of[owner[pid]].append(pid)
                    if pid not in self.children[parent]:
                        self.children[parent].append(pid)
                    found.add(pid)
            frontier = found
        for root in roots:
            self.held[root] = defaultdict(set)
        for chunk in _chunks(sorted(owner)):
            for profile_id, kind, bidx in self.session.execute(
                select(col(Identity.profile_id), col(Identity.kind), col(Identity.blind_index)).where(
                    col(Identity.profile_id).in_(chunk)
                )
            ):
                self.held[owner[profile_id]][kind].add(bytes(bidx))

    def root_of(self, profile_id: str) -> str:
        current = profile_id
        for _ in range(1000):
            parent = self.parent.get(current)
            if parent is None:
                return current
            current = parent
        raise RuntimeError(f"merge chain of profile {profile_id} does not end")

    def members(self, root: str) -> list[str]:
        result, stack = [], [root]
        while stack:
            pid = stack.pop()
            result.append(pid)
            stack.extend(self.children.get(pid, ()))
        return result

    # -- deciding ----------------------------------------------------------------------------------
    def resolve(
        self, identifiers: list[NormalizedIdentifier], *, source: str, jurisdiction: str, event_id: str | None
    ) -> Resolution:
        """Attach a record's identifiers to a profile, creating or merging as the rules allow."""
        matched: dict[str, list[str]] = {}  # root -> holders matched in it
        cause: dict[str, NormalizedIdentifier] = {}
        for ident in identifiers:
            holder = self.holders.get((ident.kind, ident.blind_index))
            if holder is not None:
                root = self.root_of(holder)
                matched.setdefault(root, []).append(holder)
                cause.setdefault(root, ident)
        unheld = [i for i in identifiers if (i.kind, i.blind_index) not in self.holders]
        if not matched:
            return self._create(unheld, source=source, jurisdiction=jurisdiction)

        ordered = sorted(matched, key=lambda r: (self.created_at[r], r))
        survivor = ordered[0]
        resolution = Resolution(profile_id=survivor, root_id=survivor)
        if len(ordered) > 1:
            combined: dict[str, set[bytes]] = defaultdict(set)
            for root in ordered:
                for kind, values in self.held[root].items():
                    combined[kind] |= values
            problems = _rule_violations(combined)
            if problems:
                resolution.review_item_id = self._review(
                    ordered, problems, sorted({i.kind for i in cause.values()}), event_id
                )
                resolution.warnings.append("profiles kept apart: " + "; ".join(problems))
                return resolution  # the record's other identifiers stay unlinked until a person decides
            for absorbed in ordered[1:]:
                key = (cause[absorbed].kind, cause[absorbed].blind_index)
                self.link(survivor, absorbed, kind=key[0], identity_id=self.identity_ids.get(key), event_id=event_id)
                resolution.merged.append(absorbed)
        elif len(set(matched[survivor])) == 1:
            resolution.profile_id = matched[survivor][0]  # the record stays with the profile holding its identifiers

        if unheld:
            trial = {k: set(v) for k, v in self.held[survivor].items()}
            for ident in unheld:
                trial.setdefault(ident.kind, set()).add(ident.blind_index)
            problems = _rule_violations({i.kind: trial[i.kind] for i in unheld})
            if problems:
                return self._split_conflict(resolution, unheld, problems, source, jurisdiction, event_id)
            self._attach(resolution.profile_id, survivor, unheld, source)
        return resolution

    def _create(self, identifiers: list[NormalizedIdentifier], *, source: str, jurisdiction: str) -> Resolution:
        profile_id, now = new_id(), utcnow()
        self._profiles.append({"id": profile_id, "created_at": now, "jurisdiction": jurisdiction})
        self.parent[profile_id], self.created_at[profile_id] = None, now
        self.held[profile_id] = defaultdict(set)
        self.keystore.new_data_key(profile_id)
        self._attach(profile_id, profile_id, identifiers, source)
        return Resolution(profile_id=profile_id, root_id=profile_id, created=True)

    def _attach(self, profile_id: str, root: str, identifiers: list[NormalizedIdentifier], source: str) -> None:
        now = utcnow()
        for ident in identifiers:
            row_id = new_id()
            key = (ident.kind, ident.blind_index)
            self.holders[key], self.identity_ids[key] = profile_id, row_id
            self.held[root][ident.kind].add(ident.blind_index)
            self._identities.append(
                {
                    "id": row_id,
                    "profile_id": profile_id,
                    "kind": ident.kind,
                    "blind_index": ident.blind_index,
                    "value_ct": self.keystore.encrypt(profile_id, "identity", "value", row_id, ident.value),
                    "source": source,
                    "created_at": now,
                }
            )

    def link(
        self,
        survivor: str,
        absorbed: str,
        *,
        kind: str,
        identity_id: str | None,
        event_id: str | None,
        actor: str = "resolver",
    ) -> str:
        self.parent[absorbed] = survivor
        self.children[survivor].append(absorbed)
        for k, values in self.held.pop(absorbed, {}).items():
            self.held[survivor][k] |= values
        self._relinks.append({"pid": absorbed, "parent": survivor})
        record_id = new_id()
        self._merges.append(
            {
                "id": record_id,
                "survivor_id": survivor,
                "absorbed_id": absorbed,
                "identifier_kind": kind,
                "identity_id": identity_id,
                "event_id": event_id,
                "actor": actor,
                "merged_at": utcnow(),
            }
        )
        return record_id

    def _review(self, profile_ids: list[str], problems: list[str], kinds: list[str], event_id: str | None) -> str:
        item_id = new_id()
        self._reviews.append(
            {
                "id": item_id,
                "profile_ids": ",".join(profile_ids),
                "reason": "; ".join(problems)[:200],
                "identifier_kind": ",".join(kinds)[:32],
                "event_id": event_id,
                "status": "open",
                "created_at": utcnow(),
            }
        )
        return item_id

    def _split_conflict(
        self,
        matched: Resolution,
        unheld: list[NormalizedIdentifier],
        problems: list[str],
        source: str,
        jurisdiction: str,
        event_id: str | None,
    ) -> Resolution:
        """The record matches a profile but carries a second value of a unique kind (e.g. another Shopify
        customer id): probably another person sharing an email. Give it its own profile and ask a person."""
        created = self._create(unheld, source=source, jurisdiction=jurisdiction)
        created.review_item_id = self._review([matched.root_id, created.profile_id], problems, [], event_id)
        created.warnings = [*matched.warnings, "kept apart from a matching profile: " + "; ".join(problems)]
        return created

    # -- writing -----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write what was decided: profiles before the rows that reference them."""
        if self._profiles:
            self.session.connection().execute(insert(table_of(Profile)), self._profiles)
        if self._identities:
            self.session.connection().execute(insert(table_of(Identity)), self._identities)
        if self._relinks:
            self.session.connection().execute(
                update(table_of(Profile))
                .where(table_of(Profile).c.id == bindparam("pid"))
                .values(merged_into=bindparam("parent")),
                self._relinks,
            )
        if self._merges:
            self.session.connection().execute(insert(table_of(MergeRecord)), self._merges)
        if self._reviews:
            self.session.connection().execute(insert(table_of(ReviewItem)), self._reviews)
        self._profiles, self._identities, self._relinks, self._merges, self._reviews = [], [], [], [], []


def holder_of(session: Session, ident: NormalizedIdentifier) -> str | None:
    """The profile holding this identifier (through its blind index; not necessarily a root), or None."""
    return session.execute(
        select(col(Identity.profile_id)).where(
            col(Identity.kind) == ident.kind, col(Identity.blind_index) == ident.blind_index
        )
    ).scalar_one_or_none()


def holders_of(session: Session, identifiers: list[NormalizedIdentifier]) -> dict[tuple[str, bytes], str]:
    """(kind, blind index) -> the profile holding it, for those someone holds: one query per 500."""
    found: dict[tuple[str, bytes], str] = {}
    wanted = {(i.kind, i.blind_index) for i in identifiers}
    kinds = sorted({kind for kind, _ in wanted})
    for chunk in _chunks(sorted({index for _, index in wanted})):
        rows = session.execute(
            select(col(Identity.kind), col(Identity.blind_index), col(Identity.profile_id)).where(
                col(Identity.kind).in_(kinds), col(Identity.blind_index).in_(chunk)
            )
        )
        found.update({(kind, bytes(index)): holder for kind, index, holder in rows if (kind, bytes(index)) in wanted})
    return found


def root_of(session: Session, profile_id: str) -> str:
    current = profile_id
    for _ in range(1000):
        parent = session.execute(
            select(col(Profile.merged_into)).where(col(Profile.id) == current)
        ).scalar_one_or_none()
        if parent is None:
            return current
        current = parent
    raise RuntimeError(f"merge chain of profile {profile_id} does not end")


def group_members(session: Session, root_id: str) -> list[str]:
    """The root and every profile merged into it, directly or through others."""
    members, frontier = [root_id], [root_id]
    while frontier:
        frontier = list(
            session.execute(select(col(Profile.id)).where(col(Profile.merged_into).in_(frontier))).scalars()
        )
        members.extend(frontier)
    return members


def merge_profiles(session: Session, keystore: KeyStore, survivor_id: str, absorbed_id: str, *, actor: str) -> str:
    """A merge asked for by a person (review item decided). The same rules apply: they protect customers."""
    resolver = BatchResolver(session, keystore)
    resolver.load_groups({survivor_id, absorbed_id})
    survivor, absorbed = resolver.root_of(survivor_id), resolver.root_of(absorbed_id)
    if survivor == absorbed:
        raise MergeError("the profiles are already in one group")
    combined: dict[str, set[bytes]] = defaultdict(set)
    for root in (survivor, absorbed):
        for kind, values in resolver.held[root].items():
            combined[kind] |= values
    problems = _rule_violations(combined)
    if problems:
        raise MergeError("merge refused: " + "; ".join(problems))
    record_id = resolver.link(survivor, absorbed, kind="manual", identity_id=None, event_id=None, actor=actor)
    resolver.flush()
    return record_id


def unmerge(session: Session, absorbed_id: str) -> MergeRecord:
    """Undo the merge that absorbed this profile. Its rows never moved, so it comes back exactly as it was,
    together with everything that was linked to it (its own merged children) and recorded on it since."""
    record = session.execute(
        select(MergeRecord).where(col(MergeRecord.absorbed_id) == absorbed_id, col(MergeRecord.unmerged_at).is_(None))
    ).scalar_one_or_none()
    if record is None:
        raise MergeError(f"profile {absorbed_id} is not merged into another profile")
    session.execute(update(Profile).where(col(Profile.id) == absorbed_id).values(merged_into=None))
    record.unmerged_at = utcnow()
    session.add(record)
    return record
