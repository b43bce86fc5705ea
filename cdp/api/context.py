"""Per-request state for GraphQL resolvers: the session, the access context and batched customer views.

Views are cached per request only (a request has one principal and one purpose, so cached values never cross
purposes), and a page of customers is loaded with one query per table instead of one per customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from cdp.access.gate import AccessContext
from cdp.identity.groups import ProfileGroup
from cdp.profiles import service as profiles
from cdp.profiles.service import CustomerView
from cdp.store import Store


@dataclass
class RequestContext:
    store: Store
    session: Session
    access: AccessContext
    gpc: bool = False  # the request carried `Sec-GPC: 1` (Global Privacy Control)
    _views: dict[str, CustomerView] = field(default_factory=dict)

    def prime(self, groups: list[ProfileGroup]) -> None:
        """Load what this request may see of a page of customers at once."""
        missing = [g for g in groups if g.root.id not in self._views]
        if missing:
            for view in profiles.views(self.session, self.store, self.access, missing):
                self._views[view.root_id] = view

    def commit(self) -> None:
        """The door owns the transaction: a mutation commits once its service returned (data keys first)."""
        self.store.keystore.flush()
        self.session.commit()

    def view(self, group: ProfileGroup) -> CustomerView:
        self.prime([group])
        return self._views[group.root.id]
