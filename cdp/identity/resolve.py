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

from sqlalchemy import bindparam, delete, insert, select, update
from sqlmodel import Session, col

from cdp.crypto.keystore import BlindIndexer, KeyStore
from cdp.db import ConcurrentWrite, table_of
from cdp.identity.models import Identity, KeepApart, MergeRecord, Profile, ReviewItem
from cdp.identity.rules import InvalidIdentifier, identity_rules, normalize, placeholder_reason, rules
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
    """Normalize and blind-index. An unusable identifier (invalid, placeholder, relay address) is dropped with
    a warning naming the field and the rule, never the value; the caller decides whether what is left suffices."""
    result, warnings = [], []
    for kind, raw in identifiers.items():
        try:
            value = normalize(kind, raw, country)
        except InvalidIdentifier as exc:
            reason = placeholder_reason(kind, str(raw).strip().lower()) if kind in rules() else None
            warnings.append(f"identifiers.{kind}: {reason}; ignored" if reason else f"identifiers.{exc}; ignored")
            continue
        reason = placeholder_reason(kind, value)
        if reason:
            warnings.append(f"identifiers.{kind}: {reason}; ignored")
            continue
        result.append(NormalizedIdentifier(kind, value, indexer.index(kind, value)))
    return result, warnings


def rule_violations(parts: list[dict[str, set[bytes]]]) -> list[str]:
    """What joining these identifier sets would break: a kind that grows past its limit. A set already past it
    (a person merged it knowingly) is not a violation as long as joining adds nothing new to it."""
    problems = []
    for kind in sorted({k for part in parts for k in part}):
        held = [values for part in parts if (values := part.get(kind))]
        if len(held) < 2:  # one side alone adds nothing to itself
            continue
        union = set().union(*held)
        rule = rules()[kind]
        if len(union) <= rule.limit or len(union) == max(map(len, held)):
            continue
        if rule.unique:
            problems.append(f"{kind}: would hold {len(union)} different values (unique per profile)")
        else:
            problems.append(f"{kind}: would hold {len(union)} values (limit {rule.limit})")
    return problems


def pair_key(profile_ids: Iterable[str]) -> str:
    """The profiles a review item asks about, in a canonical order: one item per set."""
    return ",".join(sorted(set(profile_ids)))


def _chunks(values: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class BatchResolver:
    """Resolution state for one batch in one transaction: loaded in bulk, decided in memory, written once."""

    def __init__(self, session: Session, keystore: KeyStore) -> None:
        self.session, self.keystore = session, keystore
        self.holders: dict[tuple[str, bytes], str] = {}
        self.identity_ids: dict[tuple[str, bytes], str] = {}
        self.unrelated: dict[tuple[str, bytes], int] = {}  # shared-value counters of the identifiers looked up
        self.parent: dict[str, str | None] = {}
        self.created_at: dict[str, datetime] = {}
        self.children: dict[str, list[str]] = defaultdict(list)
        self.held: dict[str, dict[str, set[bytes]]] = {}  # root -> kind -> blind indexes of the whole group
        self.apart: set[tuple[str, str]] = set()  # keep-apart decisions between member profiles
        self.asked: set[str] = set()  # pair keys of review items already written
        self._profiles: list[dict] = []
        self._identities: list[dict] = []
        self._merges: list[dict] = []
        self._reviews: list[dict] = []
        self._relinks: list[dict] = []
        self._counters: dict[str, int] = {}  # identity id -> new unrelated_links

    # -- loading -----------------------------------------------------------------------------------
    def preload(self, identifiers: Iterable[NormalizedIdentifier]) -> None:
        wanted = {(i.kind, i.blind_index) for i in identifiers}
        kinds = sorted({k for k, _ in wanted})
        for chunk in _chunks(sorted({b for _, b in wanted})):
            # kind IN (...) AND blind_index IN (...) lets the (kind, blind_index) unique index serve the look-up
            rows = self.session.execute(
                select(
                    col(Identity.id),
                    col(Identity.kind),
                    col(Identity.blind_index),
                    col(Identity.profile_id),
                    col(Identity.unrelated_links),
                ).where(col(Identity.kind).in_(kinds), col(Identity.blind_index).in_(chunk))
            )
            for identity_id, kind, bidx, profile_id, unrelated in rows:
                key = (kind, bytes(bidx))
                if key in wanted:
                    self.holders[key], self.identity_ids[key] = profile_id, identity_id
                    self.unrelated[key] = unrelated
        self.load_groups(set(self.holders.values()))

    def load_groups(self, profile_ids: set[str]) -> None:
        """Parent chains up to the roots, then every member and identifier of those groups, and the keep-apart
        decisions that involve them (with the groups on their other side)."""
        frontier = profile_ids - self.parent.keys()
        while frontier:
            for chunk in _chunks(sorted(frontier)):
                for pid, parent, created in self.session.execute(
                    select(col(Profile.id), col(Profile.merged_into), col(Profile.created_at)).where(
                        col(Profile.id).in_(chunk)
                    )
                ):
                    self.parent[pid], self.created_at[pid] = parent, created
            frontier = {p for p in (self.parent.get(f) for f in frontier) if p} - self.parent.keys()
        roots = {self.root_of(p) for p in profile_ids} - self.held.keys()
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
                    if pid not in self.children[parent]:
                        self.children[parent].append(pid)
                    found.add(pid)
            frontier = found
        for root in roots:
            self.held[root] = defaultdict(set)
        others: set[str] = set()
        for chunk in _chunks(sorted(owner)):
            for profile_id, kind, bidx in self.session.execute(
                select(col(Identity.profile_id), col(Identity.kind), col(Identity.blind_index)).where(
                    col(Identity.profile_id).in_(chunk)
                )
            ):
                self.held[owner[profile_id]][kind].add(bytes(bidx))
            for a, b in self.session.execute(
                select(col(KeepApart.profile_a), col(KeepApart.profile_b)).where(
                    col(KeepApart.profile_a).in_(chunk) | col(KeepApart.profile_b).in_(chunk)
                )
            ):
                self.apart.add((a, b))
                others |= {a, b} - self.parent.keys()
        if others:
            self.load_groups(others)

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

    def kept_apart(self, root: str, others: Iterable[str]) -> bool:
        """Whether a person decided that this group and any of the others are different customers."""
        others = set(others)
        for a, b in self.apart:
            ra, rb = self.root_of(a), self.root_of(b)
            if (ra == root and rb in others) or (rb == root and ra in others):
                return True
        return False

    # -- deciding ----------------------------------------------------------------------------------
    def resolve(
        self, identifiers: list[NormalizedIdentifier], *, source: str, jurisdiction: str, event_id: str | None
    ) -> Resolution:
        """Decide on the whole record, then write: which matching groups may join it (every per-kind rule
        holds for the union, no keep-apart decision between them), which stay apart for review, and where its
        new identifiers go. Nothing is linked before the decision is complete."""
        warnings: list[str] = []
        matched = self._matches(identifiers, warnings)
        unheld = [i for i in identifiers if (i.kind, i.blind_index) not in self.holders]
        # The groups matched through most identifiers come first; among equals the oldest.
        ranked = sorted(matched, key=lambda r: (-len(matched[r]), self.created_at[r], r))
        joined: list[str] = []
        trial: dict[str, set[bytes]] = defaultdict(set)
        for ident in unheld:
            trial[ident.kind].add(ident.blind_index)
        excluded, problems = [], []
        for root in ranked:
            conflict = rule_violations([trial, self.held[root]])
            if not conflict and self.kept_apart(root, joined):
                conflict = ["kept apart by a person's decision"]
            if conflict:
                excluded.append(root)
                problems += [p for p in conflict if p not in problems]
                continue
            joined.append(root)
            for kind, values in self.held[root].items():
                trial[kind] |= values

        if joined:
            resolution = self._join(joined, matched, event_id)
            self._attach(resolution.profile_id, resolution.root_id, unheld, source)
        else:
            resolution = self._create(unheld, source=source, jurisdiction=jurisdiction)
        self._count_unrelated(matched, unheld)
        resolution.warnings = warnings
        if excluded:
            resolution.review_item_id = self.review(
                [resolution.root_id, *excluded],
                problems,
                sorted({i.kind for r in excluded for i in matched[r]}),
                event_id,
            )
            resolution.warnings.append("kept apart from a matching profile: " + "; ".join(problems))
        return resolution

    def _matches(
        self, identifiers: list[NormalizedIdentifier], warnings: list[str]
    ) -> dict[str, list[NormalizedIdentifier]]:
        """Root -> the record's identifiers held in that group; suspicious shared values do not count."""
        limit = identity_rules().max_unrelated_links
        matched: dict[str, list[NormalizedIdentifier]] = {}
        for ident in identifiers:
            key = (ident.kind, ident.blind_index)
            holder = self.holders.get(key)
            if holder is None:
                continue
            if self.unrelated.get(key, 0) > limit:
                warnings.append(f"identifiers.{ident.kind}: shared by more than {limit} unrelated records; not linked")
                continue
            matched.setdefault(self.root_of(holder), []).append(ident)
        return matched

    def _count_unrelated(
        self, matched: dict[str, list[NormalizedIdentifier]], unheld: list[NormalizedIdentifier]
    ) -> None:
        """A record that matched a group through one value only, bringing a strong identifier of its own, is
        an unrelated record for that value, whether it joined the group or was kept apart from it (the
        shared-value rule of policies/identity.yaml)."""
        if not any(rules()[i.kind].strong for i in unheld):
            return
        for idents in matched.values():
            if len(idents) == 1:
                self.count_unrelated((idents[0].kind, idents[0].blind_index))

    def count_unrelated(self, key: tuple[str, bytes], links: int = 1) -> None:
        """Add to the shared-value counter of the identifier held under this (kind, blind index)."""
        self.unrelated[key] = self.unrelated.get(key, 0) + links
        self._counters[self.identity_ids[key]] = self.unrelated[key]

    def _join(
        self, joined: list[str], matched: dict[str, list[NormalizedIdentifier]], event_id: str | None
    ) -> Resolution:
        survivor = min(joined, key=lambda r: (self.created_at[r], r))
        resolution = Resolution(profile_id=survivor, root_id=survivor)
        for absorbed in joined:
            if absorbed == survivor:
                continue
            cause = matched[absorbed][0]
            key = (cause.kind, cause.blind_index)
            self.link(survivor, absorbed, kind=cause.kind, identity_id=self.identity_ids.get(key), event_id=event_id)
            resolution.merged.append(absorbed)
        holders = {self.holders[(i.kind, i.blind_index)] for i in matched[survivor]}
        if len(joined) == 1 and len(holders) == 1:
            resolution.profile_id = holders.pop()  # the record stays with the profile holding its identifiers
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
            self.holders[key], self.identity_ids[key], self.unrelated[key] = profile_id, row_id, 0
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
                    "unrelated_links": 0,
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
        reason: str | None = None,
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
                "reason": reason,
                "merged_at": utcnow(),
            }
        )
        return record_id

    def review(
        self,
        profile_ids: list[str],
        problems: list[str],
        kinds: list[str],
        event_id: str | None,
        *,
        origin: str = "rule",
        probability: float | None = None,
        explanation: str | None = None,
    ) -> str | None:
        """Open a review item for these profiles, unless one was already opened for them (whatever its answer:
        a person is not asked the same question twice). Returns the item's id, None when already asked."""
        key = pair_key(profile_ids)
        if (
            key in self.asked
            or self.session.execute(
                select(col(ReviewItem.id)).where(col(ReviewItem.profile_ids) == key).limit(1)
            ).first()
        ):
            self.asked.add(key)
            return None
        self.asked.add(key)
        item_id = new_id()
        self._reviews.append(
            {
                "id": item_id,
                "profile_ids": key,
                "reason": "; ".join(problems)[:200],
                "identifier_kind": ",".join(kinds)[:32],
                "event_id": event_id,
                "status": "open",
                "created_at": utcnow(),
                "origin": origin,
                "probability": probability,
                "explanation": explanation,
            }
        )
        return item_id

    # -- writing -----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write what was decided: profiles before the rows that reference them."""
        if self._profiles:
            self.session.connection().execute(insert(table_of(Profile)), self._profiles)
        if self._identities:
            self.session.connection().execute(insert(table_of(Identity)), self._identities)
        if self._relinks:
            table = table_of(Profile)
            # Only a root is absorbed. A concurrent writer that merged one of them first (committed, or holding
            # the row until it does) makes this batch's view stale: it runs again rather than undo that merge.
            relinked = self.session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("pid"), table.c.merged_into.is_(None))
                .values(merged_into=bindparam("parent")),
                self._relinks,
            )
            if relinked.rowcount != len(self._relinks):
                raise ConcurrentWrite("a profile this batch merges was merged by a concurrent writer")
        if self._merges:
            self.session.connection().execute(insert(table_of(MergeRecord)), self._merges)
        if self._reviews:
            self.session.connection().execute(insert(table_of(ReviewItem)), self._reviews)
        if self._counters:
            table = table_of(Identity)
            self.session.connection().execute(
                update(table).where(table.c.id == bindparam("iid")).values(unrelated_links=bindparam("n")),
                [{"iid": iid, "n": n} for iid, n in self._counters.items()],
            )
        self._profiles, self._identities, self._relinks, self._merges, self._reviews = [], [], [], [], []
        self._counters = {}


def holding_profile(session: Session, ident: NormalizedIdentifier) -> Profile | None:
    """The profile holding this identifier (through its blind index; not necessarily a root), or None; read
    afresh even when the session already holds it."""
    return session.execute(
        select(Profile)
        .join(Identity, col(Identity.profile_id) == col(Profile.id))
        .where(col(Identity.kind) == ident.kind, col(Identity.blind_index) == ident.blind_index)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def holder_of(session: Session, ident: NormalizedIdentifier) -> str | None:
    """The id of `holding_profile`."""
    holder = holding_profile(session, ident)
    return None if holder is None else holder.id


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


def merge_profiles(
    session: Session,
    keystore: KeyStore,
    survivor_id: str,
    absorbed_id: str,
    *,
    actor: str,
    reason: str,
    override_rules: bool = False,
) -> str:
    """A merge asked for by a person. The per-kind rules and keep-apart decisions apply unless the person
    overrides them knowingly (deciding a review item the rules opened). Earlier keep-apart decisions between
    the two groups are lifted, and an open review item about exactly these two customers is answered."""
    resolver = BatchResolver(session, keystore)
    resolver.load_groups({survivor_id, absorbed_id})
    survivor, absorbed = resolver.root_of(survivor_id), resolver.root_of(absorbed_id)
    if survivor == absorbed:
        raise MergeError("the profiles are already in one group")
    problems = rule_violations([resolver.held[survivor], resolver.held[absorbed]])
    if resolver.kept_apart(survivor, [absorbed]):
        problems.append("kept apart by a person's decision")
    if problems and not override_rules:
        raise MergeError("merge refused: " + "; ".join(problems) + " (override the rules to merge anyway)")
    record_id = resolver.link(
        survivor, absorbed, kind="manual", identity_id=None, event_id=None, actor=actor, reason=reason
    )
    resolver.flush()
    a_members, b_members = resolver.members(survivor), resolver.members(absorbed)
    session.execute(
        delete(KeepApart).where(
            (col(KeepApart.profile_a).in_(a_members) & col(KeepApart.profile_b).in_(b_members))
            | (col(KeepApart.profile_a).in_(b_members) & col(KeepApart.profile_b).in_(a_members))
        )
    )
    close_review_items(session, pair_key([survivor, absorbed]), "merged", actor=actor, reason=reason)
    return record_id


def close_review_items(session: Session, key: str, status: str, *, actor: str, reason: str) -> None:
    session.execute(
        update(ReviewItem)
        .where(col(ReviewItem.profile_ids) == key, col(ReviewItem.status) == "open")
        .values(status=status, decided_by=actor, decided_at=utcnow(), decision_reason=reason)
    )


def keep_apart(
    session: Session, profile_a: str, profile_b: str, *, actor: str, reason: str, review_item_id: str | None = None
) -> None:
    """Remember that two profiles are different customers (idempotent)."""
    low, high = sorted((profile_a, profile_b))
    exists = session.execute(
        select(col(KeepApart.id)).where(col(KeepApart.profile_a) == low, col(KeepApart.profile_b) == high)
    ).first()
    if exists is None:
        session.add(
            KeepApart(profile_a=low, profile_b=high, decided_by=actor, reason=reason, review_item_id=review_item_id)
        )


def unmerge(session: Session, absorbed_id: str, *, actor: str, reason: str) -> MergeRecord:
    """Undo the merge that absorbed this profile. Its rows never moved, so it comes back exactly as it was,
    together with everything that was linked to it (its own merged children) and recorded on it since.
    The two parts are kept apart from now on: a record bridging them opens a review item instead."""
    record = session.execute(
        select(MergeRecord).where(col(MergeRecord.absorbed_id) == absorbed_id, col(MergeRecord.unmerged_at).is_(None))
    ).scalar_one_or_none()
    if record is None:
        raise MergeError(f"profile {absorbed_id} is not merged into another profile")
    session.execute(update(Profile).where(col(Profile.id) == absorbed_id).values(merged_into=None))
    record.unmerged_at = utcnow()
    session.add(record)
    keep_apart(session, record.survivor_id, absorbed_id, actor=actor, reason=reason)
    session.flush()
    return record
