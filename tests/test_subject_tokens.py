"""A data-subject token is scoped to one customer: every field that takes an id refuses other profiles."""

from __future__ import annotations

from cdp.api.app import build_schema
from cdp.store import Store
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient

# Arguments that name a customer; `id` names one where the field returns a Profile.
ID_ARGUMENTS = {"profileId", "survivorId", "absorbedId", "subjectId", "profileIds"}
SAMPLE_SCALARS = {
    "String": '"marketing.email"',
    "Int": "1",
    "Boolean": "false",
    "DateTime": '"2026-01-01T00:00:00Z"',
    "JSON": "{}",
    "Float": "1.0",
}


def _literal(type_, other: str) -> str:  # noqa: ANN001 - a GraphQL input type
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLList):
        return f"[{_literal(inner.of_type, other)}]"
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLInputObjectType):
        fields = ", ".join(
            f"{name}: {_literal(f.type, other)}"
            for name, f in inner.fields.items()
            if isinstance(f.type, GraphQLNonNull)
        )
        return "{" + fields + "}"
    assert isinstance(inner, GraphQLScalarType)
    return f'"{other}"' if inner.name == "ID" else SAMPLE_SCALARS[inner.name]


def id_taking_operations(other: str) -> list[tuple[str, str]]:
    """(field, document) for every root field with an id argument, the other customer's id in it."""
    schema = build_schema(production=False)._schema
    documents = []
    for keyword, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        for name, field in root.fields.items():
            returns_profile = get_named_type(field.type).name == "Profile"
            names_customer = set(field.args) & ID_ARGUMENTS or (returns_profile and "id" in field.args)
            if not names_customer:
                continue
            args = ", ".join(
                f"{arg}: {_literal(a.type, other)}"
                for arg, a in field.args.items()
                if arg in ID_ARGUMENTS or (returns_profile and arg == "id") or isinstance(a.type, GraphQLNonNull)
            )
            selection = " { __typename }" if isinstance(get_named_type(field.type), GraphQLObjectType) else ""
            documents.append((name, f"{keyword} {{ {name}({args}){selection} }}"))
    return documents


def test_every_id_taking_field_refuses_other_profiles(store: Store, gql: GraphQLClient) -> None:
    [own] = ingest_all(store, event({"email": "me@example.fr"}, country="FR", traits={"first_name": "Moi"}))
    [other] = ingest_all(store, event({"email": "you@example.fr"}, country="FR", traits={"first_name": "Toi"}))
    token = gql.key("data_subject", profile_id=own.profile_id)
    operations = id_taking_operations(other.profile_id)
    assert {"profile", "mergeProfiles", "unmergeProfile", "recordConsent", "consents"} <= {n for n, _ in operations}
    for name, document in operations:
        response = gql.query(document, key=token, purpose="data_subject_rights")
        assert response.get("errors"), f"{name} answered another customer's id: {response}"
        message = response["errors"][0]["message"]
        assert "access denied" in message, f"{name}: {message}"
        assert "Toi" not in str(response) and "you@example.fr" not in str(response)


def test_subject_sees_own_profile_only(store: Store, gql: GraphQLClient) -> None:
    [own] = ingest_all(store, event({"email": "me@example.jp"}, country="JP", traits={"first_name": "花子"}))
    ingest_all(store, event({"email": "you@example.jp"}, country="JP", traits={"first_name": "太郎"}))
    token = gql.key("data_subject", profile_id=own.profile_id)
    mine = gql.run("MyProfile", key=token, purpose="data_subject_rights")["data"]["profiles"]["nodes"]
    assert [p["firstName"] for p in mine] == ["花子"]
    assert mine[0]["identities"] == [{"kind": "email", "value": "me@example.jp", "source": "shopify"}]
    by_id = gql.run("MyProfileById", {"id": own.profile_id}, key=token, purpose="data_subject_rights")
    assert by_id["data"]["profile"]["email"] == "me@example.jp"
    by_other_identifier = gql.run(
        "CustomerByEmail", {"email": "you@example.jp"}, key=token, purpose="data_subject_rights"
    )
    assert by_other_identifier.get("data") is None or by_other_identifier["data"]["profileByIdentifier"] is None
    assert "access denied" in by_other_identifier["errors"][0]["message"]
    reviews = gql.run("OpenReviewItems", key=token, purpose="data_subject_rights")
    assert "access denied" in reviews["errors"][0]["message"]
