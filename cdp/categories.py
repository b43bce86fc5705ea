"""Which data category each personal GraphQL field returns, from the data dictionary (policies/fields.yaml).

The gate checks these before execution: a selected field whose category is not granted fails the request.
"""

from __future__ import annotations

from functools import lru_cache

from cdp.dictionary import dictionary


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@lru_cache(maxsize=1)
def trait_fields() -> dict[str, str]:
    """GraphQL field name on Profile -> declared trait name."""
    return {camel(name): name for name in dictionary().traits}


@lru_cache(maxsize=1)
def static_field_categories() -> dict[tuple[str, str], str]:
    """(GraphQL type, field) -> category, for fields whose category does not depend on the row."""
    fields = dictionary()
    mapping = {("Profile", camel(name)): spec.category for name, spec in fields.traits.items()}
    mapping[("Profile", "email")] = fields.identifier("email").category
    mapping[("Profile", "phone")] = fields.identifier("phone").category
    purchase = fields.event("order").category
    mapping[("Event", "amount")] = purchase
    mapping[("Event", "baseAmount")] = purchase
    mapping.update({("ComputedTraits", camel(f)): c for f, c in computed_trait_fields().items()})
    mapping.update({("SegmentMember", camel(f)): c for f, c in segment_member_fields().items()})
    return mapping


# Computed-trait fields served over GraphQL -> the fields.yaml `computed` entry that stores them.
COMPUTED_FIELDS = {
    **{f: f for f in ("order_count", "r_score", "f_score", "m_score", "clv_tier", "lifecycle_stage", "birth_month",
                      "channel", "cohort_month")},
    "preferred_language": "language",
    "utc_offset_minutes": "utc_offset_minutes",
    "preferred_timezone": "values",
    "preferred_currency": "currency",
    **{f: "values" for f in ("recency_days", "monetary", "aov", "historic_clv", "first_order_at", "last_order_at",
                             "predicted_purchases_12m", "predicted_clv_12m", "probability_alive")},
}  # fmt: skip
SEGMENT_MEMBER_PLAIN = ("country", "language", "utc_offset_minutes", "currency", "order_count", "r_score", "f_score",
                        "m_score", "clv_tier", "lifecycle_stage")  # fmt: skip
SEGMENT_MEMBER_VALUES = ("predicted_clv_12m_minor", "probability_alive")


@lru_cache(maxsize=1)
def computed_trait_fields() -> dict[str, str]:
    """Computed-trait field -> category."""
    computed = dictionary().computed
    return {name: computed[column].category for name, column in COMPUTED_FIELDS.items()}


@lru_cache(maxsize=1)
def segment_member_fields() -> dict[str, str]:
    """Field of a segment member (list or export) -> category."""
    fields = dictionary()
    return {
        "email": fields.identifier("email").category,
        "first_name": fields.trait("first_name").category,
        **{f: fields.computed[f].category for f in SEGMENT_MEMBER_PLAIN},
        "timezone": fields.trait("timezone").category,  # the IANA name, from the encrypted values
        **{f: fields.computed["values"].category for f in SEGMENT_MEMBER_VALUES},
    }


def identifier_category(kind: str) -> str:
    return dictionary().identifier(kind).category


def event_category(event_type: str) -> str:
    return dictionary().event(event_type).category


def event_types() -> list[str]:
    return list(dictionary().events)
