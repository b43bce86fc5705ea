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
    return mapping


def identifier_category(kind: str) -> str:
    return dictionary().identifier(kind).category


def event_category(event_type: str) -> str:
    return dictionary().event(event_type).category


def event_types() -> list[str]:
    return list(dictionary().events)
