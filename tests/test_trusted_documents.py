"""Every trusted document runs, under the role and purpose its file declares, against a small demo dataset,
through third-party clients over a real HTTP server: Python `gql` (sends the text) and Apollo Client (sends
only the manifest hash). A document that no step runs fails the test.

PLAN says, per step, the variables a document needs (from what earlier steps returned). A document missing
from PLAN runs with no variables; one that needs variables must be added to PLAN.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from cdp.access.gate import AccessContext
from cdp.api import app as app_module
from cdp.api.http import GraphQLParams, parse_params
from cdp.api.settings import ApiSettings
from cdp.auth.service import create_api_key
from cdp.demo.generate import generate_demo
from cdp.demo.load import load_demo
from cdp.dsr.settings import get_dsr_settings
from cdp.store import Store
from graphql import NonNullTypeNode, OperationDefinitionNode, parse
from tests.factories import order
from tests.graphql_client import documents, live_server
from tests.third_party import ApolloRunner, GqlRunner, Runner, node_tools_available

SEED, PEOPLE = 5, 12
State = dict[str, Any]


@dataclass(frozen=True)
class Step:
    name: str
    variables: Callable[[State], dict[str, Any]] = lambda _: {}
    keep: Callable[[State, dict[str, Any]], None] = lambda _s, _d: None


def _outbox_code(state: State) -> str:
    newest = max(Path(state["outbox"]).glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    body = message_from_bytes(newest.read_bytes()).get_payload(decode=True).decode()
    match = re.search(r"verification code: (\d+)", body)
    assert match, "no code in the outbox message"
    return match.group(1)


def _put(**paths: Callable[[dict[str, Any]], Any]) -> Callable[[State, dict[str, Any]], None]:
    def keep(state: State, data: dict[str, Any]) -> None:
        state.update({name: path(data) for name, path in paths.items()})

    return keep


NEW_CUSTOMERS = ("ana.keep@example.pt", "bo.keep@example.se")
SHOP_IDS = ("9100001", "9100002")
PLAN: list[Step] = [
    Step("CustomerByEmail", lambda s: {"email": s["email"]}, _put(profile=lambda d: d["profileByIdentifier"]["id"])),
    Step("CustomerOrders", lambda s: {"id": s["profile"]}),
    Step(
        "SendEvents",
        lambda _: {
            "events": [order({"email": e}, country="PT", traits={"first_name": "Ana"}) for e in NEW_CUSTOMERS]
            # one customer's record that would hold two Shopify ids: the rules keep it apart and ask a person
            + [order({"email": "cy.keep@example.pt", "shopify_customer_id": shop}, country="PT") for shop in SHOP_IDS]
        },
        _put(new=lambda d: [o["profileId"] for o in d["ingestEvents"]]),
    ),
    Step("SupportLookup", lambda s: {"email": s["email"]}),
    Step(
        "RecordConsent",
        lambda s: {
            "profileId": s["profile"],
            "purpose": "marketing.email",
            "status": "granted",
            "source": "banner",
            "noticeVersion": "2026-11",
            "noticeText": "We will email you offers.",
        },  # fmt: skip
    ),
    Step("ConsentState", lambda s: {"profileId": s["profile"]}),
    Step("CampaignContact", lambda s: {"id": s["profile"]}),
    Step(
        "CreateSegment",
        lambda _: {
            "definition": {"name": "buyers", "where": {"all": [{"field": "order_count", "op": "gte", "value": 1}]}}
        },
        _put(segment=lambda d: d["createSegment"]["id"]),
    ),
    Step("EvaluateSegment", lambda s: {"id": s["segment"], "destinationCountry": "DE"}),
    Step("Segments", lambda _: {"destinationCountry": "DE"}),
    Step("SegmentAudience", lambda s: {"id": s["segment"], "destinationCountry": "DE"}),
    Step("CustomerScores", lambda s: {"id": s["profile"]}),
    Step("MarketingAggregates", lambda _: {"by": "country"}),
    Step("CampaignAudience"),
    Step("AdAudienceMember", lambda s: {"id": s["profile"]}),
    Step("WithdrawConsent", lambda s: {"profileId": s["profile"], "purpose": "marketing.email"}),
    Step("ConsentHistory", lambda s: {"profileId": s["profile"]}),
    Step("TraitLineage", lambda s: {"profileId": s["profile"], "trait": "first_name"}),
    Step(
        "StartRequest",
        lambda s: {"kind": "access", "identifierKind": "email", "value": s["email"]},
        _put(request=lambda d: d["startDsrRequest"]["id"]),
    ),
    Step(
        "VerifyRequest",
        lambda s: {"requestId": s["request"], "code": _outbox_code(s)},
        _put(token=lambda d: d["verifyDsrRequest"]["token"]),
    ),
    Step("MyProfile"),
    Step("MyProfileById", lambda s: {"id": s["profile"]}),
    Step("MyRequest", lambda s: {"id": s["request"]}),
    Step(
        "StartRequest",
        lambda s: {"kind": "erasure", "identifierKind": "email", "value": s["email"]},
        _put(second=lambda d: d["startDsrRequest"]["id"]),
    ),
    Step("ConfirmDsrIdentity", lambda s: {"requestId": s["second"], "method": "signed letter with ID document"}),
    Step("ExtendDsrDeadline", lambda s: {"requestId": s["second"], "reason": "complex request", "months": 1}),
    Step("RefuseDsr", lambda s: {"requestId": s["second"], "reason": "legal hold on the order records"}),
    Step("DsrQueue"),
    Step("ExecuteDsr", lambda s: {"requestId": s["request"]}),
    Step("Customers"),
    Step("CustomerIdentities", lambda s: {"id": s["profile"], "reveal": True}),
    Step("OpenReviewItems", keep=_put(review=lambda d: d["reviewItems"][0]["id"])),
    Step("IdentitySuggestions"),
    Step("SuggestMatches", lambda s: {"profileIds": s["new"][:2]}),
    Step(
        "DecideReviewItem", lambda s: {"id": s["review"], "decision": "keep_apart", "reason": "two shops, two people"}
    ),
    Step("MergeCustomers", lambda s: {"survivorId": s["new"][0], "absorbedId": s["new"][1], "reason": "same person"}),
    Step("UnmergeCustomer", lambda s: {"profileId": s["new"][1], "reason": "two people after all"}),
    Step("AuditLog"),
    Step("AuditVerify"),
    Step("DiscoveredFields"),
    Step("ScanFindings"),
]


def _required_variables(body: str) -> list[str]:
    [operation] = [d for d in parse(body).definitions if isinstance(d, OperationDefinitionNode)]
    return [
        v.variable.name.value
        for v in operation.variable_definitions or ()
        if isinstance(v.type, NonNullTypeNode) and v.default_value is None
    ]


def run_every_document(store: Store, run: Runner, state: State) -> set[str]:
    """Runs PLAN, then every document PLAN leaves out; returns the names run. Each must answer without errors."""
    keys: dict[str, str] = {}

    def key(role: str) -> str:
        if role == "data_subject":
            return state["token"]
        if role not in keys:
            with store.session() as session:
                keys[role] = create_api_key(session, name=f"documents {role}", role=role)[1]
                session.commit()
        return keys[role]

    trusted = documents()
    unplanned = [Step(name) for name in sorted(set(trusted) - {s.name for s in PLAN})]
    executed: set[str] = set()
    for step in [*PLAN, *unplanned]:
        document = trusted[step.name]
        variables = step.variables(state)
        missing = [v for v in _required_variables(document.body) if v not in variables]
        assert not missing, f"{step.name} needs {missing}: add a Step with its variables to PLAN"
        result = run(step.name, variables, key=key(document.role), purpose=document.purpose)
        assert not result.get("errors"), f"{step.name} as {document.role}/{document.purpose}: {result['errors']}"
        assert result["data"], step.name
        step.keep(state, result["data"])
        executed.add(step.name)
    return executed


@pytest.fixture
def demo(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[State]:
    """A small demo dataset (fixed seed), mail going to a file outbox, and a customer to start from."""
    monkeypatch.setenv("CDP_MAIL_TRANSPORT", "outbox")
    monkeypatch.setenv("CDP_MAIL_OUTBOX_DIR", str(tmp_path / "outbox"))
    get_dsr_settings.cache_clear()
    load_demo(store, people=PEOPLE, seed=SEED, access=AccessContext.operator("order_fulfillment"))
    person = next(p for p in generate_demo(seed=SEED, people=PEOPLE).people if p.linked and p.emails)
    yield {"email": person.emails[-1], "outbox": str(tmp_path / "outbox")}
    get_dsr_settings.cache_clear()


# As production would run: app roles may send trusted documents only (gql sends the printed text, Apollo the hash).
TRUSTED_ONLY = ApiSettings(trusted_documents_only=True)


def test_every_document_runs_with_python_gql(store: Store, demo: State) -> None:
    with live_server(store, TRUSTED_ONLY) as url:
        executed = run_every_document(store, GqlRunner(url), demo)
    assert executed == set(documents())


@pytest.mark.skipif(
    not node_tools_available() and not os.environ.get("CDP_TEST_NODE"),
    reason="Apollo Client not installed: run `npm ci` in tests/node (the CI script does)",
)
def test_every_document_runs_with_apollo_client_by_hash(
    store: Store, demo: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert node_tools_available(), "CDP_TEST_NODE is set but tests/node has no node_modules: run `npm ci` there"
    sent: list[GraphQLParams] = []

    def recording(body: bytes) -> GraphQLParams:
        sent.append(parse_params(body))
        return sent[-1]

    monkeypatch.setattr(app_module, "parse_params", recording)
    with live_server(store, TRUSTED_ONLY) as url:
        apollo = ApolloRunner(url)
        try:
            executed = run_every_document(store, apollo, demo)
        finally:
            apollo.close()
    assert executed == set(documents())
    assert len(sent) >= len(PLAN)
    assert all(p.query is None and p.document_id in {d.id for d in documents().values()} for p in sent)
