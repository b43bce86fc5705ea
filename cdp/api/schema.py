"""The root types, composed from one query and one mutation class per domain (Saleor-style)."""

from __future__ import annotations

from strawberry.tools import merge_types

from cdp.api.audit import AuditQuery
from cdp.api.compliance import ComplianceQuery
from cdp.api.consent import ConsentMutation, ConsentQuery
from cdp.api.dsr import DsrMutation, DsrQuery
from cdp.api.identity import IdentityMutation, IdentityQuery
from cdp.api.marketing import MarketingMutation, MarketingQuery
from cdp.api.pii import PiiQuery
from cdp.api.profiles import ProfileMutation, ProfileQuery

Query = merge_types(
    "Query",
    (ProfileQuery, IdentityQuery, ConsentQuery, AuditQuery, DsrQuery, PiiQuery, ComplianceQuery, MarketingQuery),
)
Mutation = merge_types("Mutation", (ProfileMutation, IdentityMutation, ConsentMutation, DsrMutation, MarketingMutation))
