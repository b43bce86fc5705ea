"""The breach register: an incident and its append-only history.

An incident row is written once, when the breach is opened; everything that happens afterwards (an update,
the affected customers assessed from the audit log, a regulator or customers notified, closure) is a new
`incident_event` row. Neither table is ever updated or deleted (the migration installs triggers refusing
it), so the register shows exactly what was known when. Rows hold ids, counts and staff-written notes, never
customers' personal values.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit.models import UTCDateTime
from cdp.ids import new_id, utcnow

EVENT_KINDS = ("opened", "assessed", "update", "notified", "closed")


class Incident(SQLModel, table=True):
    __tablename__ = "incident"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    title: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text(), nullable=False))
    aware_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # GDPR Art. 33: the clock starts
    regulator_due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    opened_by: str = Field(max_length=200)  # principal key id


class IncidentEvent(SQLModel, table=True):
    __tablename__ = "incident_event"
    __table_args__ = (UniqueConstraint("incident_id", "seq", name="uq_incident_event_seq"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    incident_id: str = Field(foreign_key="incident.id", index=True, max_length=36)
    seq: int  # 1, 2, ... per incident: the order of the history (unique, so two writers cannot interleave)
    kind: str = Field(max_length=16)
    occurred_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(max_length=200)
    detail: str = Field(sa_column=Column(Text(), nullable=False))  # JSON
