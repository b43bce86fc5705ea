"""Per-request state for GraphQL resolvers: the session, the access context and batched readers.

The readers cache per request only (a request has one principal and one purpose, so cached values never
cross purposes), and load whole pages of profiles in one query per table instead of one per profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from cdp.access.gate import AccessContext
from cdp.profiles import service as profiles
from cdp.profiles.service import IdentityView, ProfileGroup, TraitView
from cdp.store import Store


@dataclass
class RequestContext:
    store: Store
    session: Session
    access: AccessContext
    gpc: bool = False  # the request carried `Sec-GPC: 1` (Global Privacy Control)
    _traits: dict[str, dict[str, TraitView]] = field(default_factory=dict)
    _identities: dict[str, list[IdentityView]] = field(default_factory=dict)

    def prime(self, groups: list[ProfileGroup]) -> None:
        """Load traits and identities of a page of customers with one query each."""
        missing = [g for g in groups if g.root.id not in self._traits]
        if not missing:
            return
        owner = {member: g.root.id for g in missing for member in g.member_ids}
        members = list(owner)
        for g in missing:
            self._traits[g.root.id], self._identities[g.root.id] = {}, []
        for view in profiles.identities(self.session, self.store, members):
            self._identities[owner[view.profile_id]].append(view)
        rows: dict[str, list[TraitView]] = {g.root.id: [] for g in missing}
        for trait in profiles.trait_views(self.session, self.store, members):
            rows[owner[trait.profile_id]].append(trait)
        for root_id, views in rows.items():
            self._traits[root_id] = profiles.latest_traits(views)

    def traits(self, group: ProfileGroup) -> dict[str, TraitView]:
        self.prime([group])
        return self._traits[group.root.id]

    def identities(self, group: ProfileGroup) -> list[IdentityView]:
        self.prime([group])
        return self._identities[group.root.id]
