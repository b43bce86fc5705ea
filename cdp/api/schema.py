"""The root types, composed from one query and one mutation class per domain (Saleor-style)."""

from __future__ import annotations

from strawberry.tools import merge_types

from cdp.api.profiles import ProfileMutation, ProfileQuery

Query = merge_types("Query", (ProfileQuery,))
Mutation = merge_types("Mutation", (ProfileMutation,))
