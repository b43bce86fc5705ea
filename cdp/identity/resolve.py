"""Identity resolution: incoming identifiers -> the profile they belong to, merging conservatively.

A wrong merge is a privacy incident (one customer sees another's data in an access export), so a merge
happens only when every per-kind rule still holds for the combined profile; otherwise the profiles stay
apart and a review item is opened. Merges are links (`merged_into` + a MergeRecord), so unmerge is exact.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, insert, or_, select, update
from sqlmodel import Session

from cdp.crypto.keystore import BlindIndexer, KeyStore
from cdp.identity.models import Identity, MergeRecord, Profile, ReviewItem
from cdp.identity.rules import InvalidIdentifier, is_blocked, normalize, rules
from cdp.ids import new_id, utcnow


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


def root_of(session: Session, profile_id: str) -> str:
    current = profile_id
    for _ in range(1000):
        parent = session.execute(select(Profile.merged_into).where(Profile.id == current)).scalar_one_or_none()
        if parent is None:
            return current
        current = parent
    raise RuntimeError(f"merge chain of profile {profile_id} does not end")


def group_members(session: Session, root_id: str) -> list[str]:
    """The root and every profile merged into it, directly or through others."""
    members, frontier = [root_id], [root_id]
    while frontier:
        frontier = list(session.execute(select(Profile.id).where(Profile.merged_into.in_(frontier))).scalars())
        members.extend(frontier)
    return members


def _group_identifiers(session: Session, members: list[str]) -> dict[str, set[bytes]]:
    held: dict[str, set[bytes]] = defaultdict(set)
    for kind, bidx in session.execute(
        select(Identity.kind, Identity.blind_index).where(Identity.profile_id.in_(members))
    ):
        held[kind].add(bytes(bidx))
    return held


def _rule_violations(held: dict[str, set[bytes]]) -> list[str]:
    problems = []
    for kind, values in held.items():
        rule = rules()[kind]
        if rule.unique and len(values) > 1:
            problems.append(f"{kind}: would hold {len(values)} different values (unique per profile)")
        elif len(values) > rule.limit:
            problems.append(f"{kind}: would hold {len(values)} values (limit {rule.limit})")
    return problems


def resolve(
    session: Session,
    keystore: KeyStore,
    identifiers: list[NormalizedIdentifier],
    *,
    source: str,
    jurisdiction: str,
    event_id: str | None,
) -> Resolution:
    """Attach a record's identifiers to a profile, creating or merging as the rules allow."""
    holders = _holders(session, identifiers)
    roots: dict[str, list[str]] = defaultdict(list)  # root -> holder profiles matched in it
    root_kind: dict[str, NormalizedIdentifier] = {}
    for ident in identifiers:
        holder = holders.get((ident.kind, ident.blind_index))
        if holder is not None:
            root = root_of(session, holder)
            roots[root].append(holder)
            root_kind.setdefault(root, ident)
    unheld = [i for i in identifiers if (i.kind, i.blind_index) not in holders]

    if not roots:
        return _create(session, keystore, unheld, source=source, jurisdiction=jurisdiction)

    ordered = _oldest_first(session, list(roots))
    survivor = ordered[0]
    resolution = Resolution(profile_id=survivor, root_id=survivor)
    if len(ordered) > 1:
        combined: dict[str, set[bytes]] = defaultdict(set)
        for root in ordered:
            for kind, values in _group_identifiers(session, group_members(session, root)).items():
                combined[kind] |= values
        problems = _rule_violations(combined)
        if problems:
            resolution.review_item_id = _open_review(session, ordered, "; ".join(problems), root_kind, event_id)
            resolution.warnings.append("profiles kept apart: " + "; ".join(problems))
            unheld = []  # the record's other identifiers stay unlinked until a person decides
        else:
            for absorbed in ordered[1:]:
                cause = root_kind[absorbed]
                _link(
                    session,
                    survivor,
                    absorbed,
                    kind=cause.kind,
                    identity_id=_identity_id(session, cause),
                    event_id=event_id,
                    actor="resolver",
                )
                resolution.merged.append(absorbed)
    elif len(set(roots[survivor])) == 1:
        resolution.profile_id = roots[survivor][0]  # keep the record with the profile that holds its identifiers

    if unheld:
        held = _group_identifiers(session, group_members(session, survivor))
        for ident in unheld:
            trial = {**held, ident.kind: held.get(ident.kind, set()) | {ident.blind_index}}
            problems = _rule_violations({ident.kind: trial[ident.kind]})
            if problems:
                return _split_conflict(session, keystore, resolution, unheld, problems, source, jurisdiction, event_id)
            held = trial
        _attach(session, keystore, resolution.profile_id, unheld, source)
    return resolution


def _holders(session: Session, identifiers: list[NormalizedIdentifier]) -> dict[tuple[str, bytes], str]:
    if not identifiers:
        return {}
    clause = or_(*[and_(Identity.kind == i.kind, Identity.blind_index == i.blind_index) for i in identifiers])
    rows = session.execute(select(Identity.kind, Identity.blind_index, Identity.profile_id).where(clause))
    return {(kind, bytes(bidx)): pid for kind, bidx, pid in rows}


def _identity_id(session: Session, ident: NormalizedIdentifier) -> str | None:
    return session.execute(
        select(Identity.id).where(Identity.kind == ident.kind, Identity.blind_index == ident.blind_index)
    ).scalar_one_or_none()


def _oldest_first(session: Session, profile_ids: list[str]) -> list[str]:
    rows = session.execute(
        select(Profile.id).where(Profile.id.in_(profile_ids)).order_by(Profile.created_at, Profile.id)
    )
    return list(rows.scalars())


def _create(
    session: Session, keystore: KeyStore, identifiers: list[NormalizedIdentifier], *, source: str, jurisdiction: str
) -> Resolution:
    profile_id = new_id()
    session.execute(insert(Profile).values(id=profile_id, created_at=utcnow(), jurisdiction=jurisdiction))
    keystore.new_data_key(profile_id)
    _attach(session, keystore, profile_id, identifiers, source)
    return Resolution(profile_id=profile_id, root_id=profile_id, created=True)


def _attach(
    session: Session, keystore: KeyStore, profile_id: str, identifiers: list[NormalizedIdentifier], source: str
) -> None:
    if not identifiers:
        return
    now = utcnow()
    rows = []
    for ident in identifiers:
        row_id = new_id()
        rows.append(
            {
                "id": row_id,
                "profile_id": profile_id,
                "kind": ident.kind,
                "blind_index": ident.blind_index,
                "value_ct": keystore.encrypt(profile_id, "identity", "value", row_id, ident.value),
                "source": source,
                "created_at": now,
            }
        )
    session.execute(insert(Identity), rows)


def _link(
    session: Session,
    survivor: str,
    absorbed: str,
    *,
    kind: str,
    identity_id: str | None,
    event_id: str | None,
    actor: str,
) -> str:
    session.execute(update(Profile).where(Profile.id == absorbed).values(merged_into=survivor))
    record_id = new_id()
    session.execute(
        insert(MergeRecord).values(
            id=record_id,
            survivor_id=survivor,
            absorbed_id=absorbed,
            identifier_kind=kind,
            identity_id=identity_id,
            event_id=event_id,
            actor=actor,
            merged_at=utcnow(),
        )
    )
    return record_id


def _open_review(
    session: Session,
    profile_ids: list[str],
    reason: str,
    root_kind: dict[str, NormalizedIdentifier],
    event_id: str | None,
) -> str:
    item_id = new_id()
    kinds = sorted({i.kind for i in root_kind.values()})
    session.execute(
        insert(ReviewItem).values(
            id=item_id,
            profile_ids=",".join(profile_ids),
            reason=reason[:200],
            identifier_kind=",".join(kinds)[:32],
            event_id=event_id,
            status="open",
            created_at=utcnow(),
        )
    )
    return item_id


def _split_conflict(
    session: Session,
    keystore: KeyStore,
    matched: Resolution,
    unheld: list[NormalizedIdentifier],
    problems: list[str],
    source: str,
    jurisdiction: str,
    event_id: str | None,
) -> Resolution:
    """The record matches a profile but carries a second value of a unique kind (e.g. another Shopify customer
    id): it is probably another person sharing an email. Give it its own profile and ask a person."""
    created = _create(session, keystore, unheld, source=source, jurisdiction=jurisdiction)
    created.review_item_id = _open_review(
        session, [matched.root_id, created.profile_id], "; ".join(problems), {}, event_id
    )
    created.warnings = [*matched.warnings, "kept apart from a matching profile: " + "; ".join(problems)]
    return created


class MergeError(ValueError):
    pass


def merge_profiles(session: Session, survivor_id: str, absorbed_id: str, *, actor: str) -> str:
    """A merge asked for by a person (review item decided). The same rules apply: they protect customers."""
    survivor, absorbed = root_of(session, survivor_id), root_of(session, absorbed_id)
    if survivor == absorbed:
        raise MergeError("the profiles are already in one group")
    combined: dict[str, set[bytes]] = defaultdict(set)
    for root in (survivor, absorbed):
        for kind, values in _group_identifiers(session, group_members(session, root)).items():
            combined[kind] |= values
    problems = _rule_violations(combined)
    if problems:
        raise MergeError("merge refused: " + "; ".join(problems))
    return _link(session, survivor, absorbed, kind="manual", identity_id=None, event_id=None, actor=actor)


def unmerge(session: Session, absorbed_id: str) -> MergeRecord:
    """Undo the merge that absorbed this profile. Its rows never moved, so it comes back exactly as it was,
    together with everything that was linked to it (its own merged children) and recorded on it since."""
    record = session.execute(
        select(MergeRecord).where(MergeRecord.absorbed_id == absorbed_id, MergeRecord.unmerged_at.is_(None))
    ).scalar_one_or_none()
    if record is None:
        raise MergeError(f"profile {absorbed_id} is not merged into another profile")
    session.execute(update(Profile).where(Profile.id == absorbed_id).values(merged_into=None))
    record.unmerged_at = utcnow()
    session.add(record)
    return record
