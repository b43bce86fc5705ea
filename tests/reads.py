"""Reading a customer back in tests, through the governed read service as the operator would (legal_compliance:
every category, whatever the customer's consent or restriction)."""

from __future__ import annotations

from sqlmodel import Session

from cdp.access.gate import AccessContext
from cdp.profiles import service as profiles
from cdp.profiles.service import EventView, IdentityView, TraitView
from cdp.store import Store

READER = AccessContext.operator("legal_compliance")


def _view(session: Session, store: Store, profile_id: str) -> profiles.CustomerView:
    [view] = profiles.views(session, store, READER, [profiles.customer(session, READER, profile_id)])
    return view


def identities(session: Session, store: Store, profile_id: str) -> list[IdentityView]:
    return _view(session, store, profile_id).identities()


def traits(session: Session, store: Store, profile_id: str) -> dict[str, TraitView]:
    return {t.name: t for t in _view(session, store, profile_id).traits()}


def events(session: Session, store: Store, profile_id: str, *, first: int = 1000) -> list[EventView]:
    return profiles.events(session, store, READER, _view(session, store, profile_id), first=first)


def find(session: Session, store: Store, kind: str, value: str, country: str | None = None) -> str | None:
    group = profiles.find_by_identifier(session, store, READER, kind, value, country)
    return group.root.id if group is not None else None
