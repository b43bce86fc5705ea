"""`cdp identity reindex`: identifiers stored before the provider rules of policies/identity.yaml (Gmail dots,
+tags, googlemail.com) are moved to their canonical form, and collisions are decided as resolution would."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from audit.models import AuditEntry
from bench import identity_eval
from bench._setup import bench_store
from cdp.access.gate import AccessContext
from cdp.cli.main import app
from cdp.dsr.suppression import SUPPRESSED
from cdp.identity import resolve
from cdp.identity import rules as identity_rules
from cdp.identity.models import Identity, MergeRecord, ReviewItem
from cdp.identity.rules import earlier_forms
from cdp.resolution import reindex as reindexing
from cdp.resolution import service as resolution
from cdp.settings import Settings
from cdp.store import Store
from tests import dsr_helpers as doors
from tests import reads
from tests.dsr_helpers import OFFICER, verified_request
from tests.factories import email_in_old_form, event, ingest_all

ADMIN = AccessContext.operator("identity_resolution")
VARIANTS = ("J.Smith+shop@googlemail.com", "j.smith@gmail.com", "jsmith@gmail.com", "JSMITH+news@gmail.com")


def _customer(store: Store, identifiers: dict[str, str]) -> str:
    [outcome] = ingest_all(store, event(identifiers))
    assert outcome.status == "stored" and outcome.profile_id, outcome.errors
    return outcome.profile_id


def _reindex(store: Store, batch_size: int = 500) -> Counter[str]:
    totals: Counter[str] = Counter()
    after = None
    while True:
        batch = store.run(
            lambda s, after=after: reindexing.reindex_identifiers(s, store, ADMIN, after=after, batch_size=batch_size)
        )
        totals.update(batch.counts)
        if batch.finished:
            return totals
        after = batch.last_id


def _found(store: Store, email: str) -> str | None:
    with store.session() as s:
        return reads.find(s, store, "email", email)


def _root(store: Store, profile_id: str) -> str:
    with store.session() as s:
        return resolve.root_of(s, profile_id)


def _emails(store: Store, profile_id: str) -> list[str]:
    with store.session() as s:
        return sorted(i.value for i in reads.identities(s, store, profile_id) if i.kind == "email")


def _rows(store: Store) -> list[tuple]:
    with store.session() as s:
        return [tuple(r) for r in s.execute(select(Identity.id, Identity.blind_index, Identity.value_ct))]


def _count(store: Store, model: type) -> int:
    with store.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_an_old_gmail_form_is_found_by_every_variant_after_reindexing(store: Store) -> None:
    customer = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, customer, "J.Smith+shop@googlemail.com")
    assert [_found(store, v) for v in VARIANTS] == [None] * len(VARIANTS)  # the gap: no variant finds it
    totals = _reindex(store)
    assert (totals["reindexed"], totals["merged"], totals["review_items"]) == (1, 0, 0)
    assert [_found(store, v) for v in VARIANTS] == [customer] * len(VARIANTS)
    assert _emails(store, customer) == ["jsmith@gmail.com"]  # the value itself is stored in its canonical form
    # the next record bringing a variant joins the customer instead of starting a new one
    assert _customer(store, {"email": "j.s.m.i.t.h@gmail.com"}) == customer


def test_a_second_run_changes_nothing(store: Store) -> None:
    customer = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, customer, "J.Smith+shop@googlemail.com")
    email_in_old_form(store, customer, "anna+tag@outlook.com")
    first = _reindex(store)
    assert first["reindexed"] == 2
    rows, audited = _rows(store), _count(store, AuditEntry)
    again = _reindex(store)
    assert again["scanned"] == first["scanned"]
    assert sum(again[k] for k in ("reindexed", "duplicates", "merged", "review_items")) == 0
    assert _rows(store) == rows  # not even re-encrypted
    assert _count(store, AuditEntry) == audited + 1  # the run itself is audited (it read the identifiers)


def test_two_old_forms_of_one_mailbox_leave_one_row(store: Store) -> None:
    customer = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, customer, "j.smith@gmail.com")
    email_in_old_form(store, customer, "jsmith+news@googlemail.com")
    totals = _reindex(store)
    assert (totals["reindexed"], totals["duplicates"]) == (1, 1)
    assert _emails(store, customer) == ["jsmith@gmail.com"]
    assert _found(store, "J.Smith@gmail.com") == customer


def test_a_placeholder_under_the_new_rules_is_left_alone(store: Store) -> None:
    customer = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, customer, "John.Doe+x@gmail.com")  # johndoe@gmail.com: a placeholder now
    totals = _reindex(store)
    assert (totals["skipped"], totals["reindexed"]) == (1, 0)
    assert _emails(store, customer) == ["john.doe+x@gmail.com"]


def test_an_old_form_held_by_another_customer_joins_them_as_resolution_would(store: Store) -> None:
    before = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, before, "J.Smith@gmail.com")
    after = _customer(store, {"email": "jsmith@gmail.com", "phone": "+4915112345678"})  # the gap: a new profile
    assert _root(store, before) != _root(store, after)
    totals = _reindex(store)
    assert (totals["merged"], totals["duplicates"], totals["review_items"]) == (1, 1, 0)
    assert _root(store, after) == _root(store, before) == before  # the older profile survives
    with store.session() as s:
        [merge] = s.execute(select(MergeRecord)).scalars()
    assert (merge.survivor_id, merge.absorbed_id, merge.identifier_kind) == (before, after, "email")
    assert "re-index" in (merge.reason or "")
    assert _emails(store, before) == ["jsmith@gmail.com"]  # one row: the one the later profile wrote
    with store.session() as s:
        [row] = s.execute(select(Identity).where(Identity.kind == "email")).scalars()
    assert row.unrelated_links == 1  # matched through it alone, bringing crm-1: ingestion would count it too
    with store.transaction() as s:  # undone exactly like any merge
        resolution.unmerge(s, ADMIN, after, reason="checked: two people")
    assert _root(store, after) == after


def test_an_old_form_resolution_would_not_merge_opens_a_review_item_once(store: Store) -> None:
    before = _customer(store, {"shopify_customer_id": "1001"})
    old_row = email_in_old_form(store, before, "j.smith@gmail.com")
    after = _customer(store, {"email": "jsmith@gmail.com", "shopify_customer_id": "1002"})
    totals = _reindex(store)
    assert (totals["merged"], totals["review_items"], totals["kept"]) == (0, 1, 1)
    assert _root(store, before) != _root(store, after)
    with store.session() as s:
        [item] = s.execute(select(ReviewItem)).scalars()
        assert s.get(Identity, old_row) is not None  # keeps its old form until a person decides
    assert item.profile_ids == ",".join(sorted([before, after])) and "shopify_customer_id" in item.reason
    assert _found(store, "jsmith@gmail.com") == after
    assert _reindex(store)["review_items"] == 0 and _count(store, ReviewItem) == 1  # asked once
    with store.transaction() as s:
        resolution.decide(s, store, ADMIN, item.id, "merge", reason="same person, two shop accounts")
    totals = _reindex(store)
    assert (totals["duplicates"], totals["kept"]) == (1, 0)  # now one group: the old row was a duplicate
    with store.session() as s:
        assert s.get(Identity, old_row) is None
    assert _emails(store, before) == ["jsmith@gmail.com"]  # the group's one email row


def test_a_value_shared_too_widely_links_nothing(store: Store) -> None:
    before = _customer(store, {"external_id": "crm-1"})
    old_row = email_in_old_form(store, before, "j.smith@gmail.com")
    after = _customer(store, {"email": "jsmith@gmail.com"})
    with store.transaction() as s:  # as if ten unrelated records had matched through it
        s.execute(update(Identity).where(Identity.profile_id == after).values(unrelated_links=10))
    totals = _reindex(store)
    assert (totals["kept"], totals["merged"], totals["review_items"]) == (1, 0, 0)
    assert _root(store, before) != _root(store, after)
    with store.session() as s:
        assert s.get(Identity, old_row) is not None


def test_restricted_customers_are_neither_read_nor_joined(store: Store) -> None:
    restricted = _customer(store, {"external_id": "crm-1"})
    old_row = email_in_old_form(store, restricted, "j.smith@gmail.com")
    active = _customer(store, {"external_id": "crm-2"})
    email_in_old_form(store, active, "anna+x@outlook.com")
    holder = _customer(store, {"email": "anna@outlook.com"})  # restricted too: nobody joins it
    for profile_id in (restricted, holder):
        doors.execute(store, OFFICER, verified_request(store, "restriction", profile_id).id)
    totals = _reindex(store)
    assert (totals["skipped"], totals["kept"], totals["merged"], totals["review_items"]) == (3, 1, 0, 0)
    assert {_root(store, p) for p in (restricted, active, holder)} == {restricted, active, holder}
    with store.session() as s:
        assert bytes(s.get(Identity, old_row).blind_index) == store.indexer.index("email", "j.smith@gmail.com")
        [entry] = s.execute(select(AuditEntry).where(AuditEntry.operation == "identity.reindex")).scalars()
    assert entry.subject_id_list == [active]


def test_customers_a_person_kept_apart_stay_apart(store: Store) -> None:
    before = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, before, "j.smith@gmail.com")
    after = _customer(store, {"email": "jsmith@gmail.com"})
    with store.transaction() as s:
        resolve.keep_apart(s, before, after, actor="test", reason="two people")
    totals = _reindex(store)
    assert (totals["merged"], totals["review_items"]) == (0, 1)
    assert _root(store, before) != _root(store, after)


def test_batches_commit_one_by_one_and_each_is_audited(store: Store) -> None:
    customers = [_customer(store, {"external_id": f"crm-{i}"}) for i in range(5)]
    for i, customer in enumerate(customers):
        email_in_old_form(store, customer, f"Cust.Omer{i}+x@gmail.com")
    totals = _reindex(store, batch_size=3)  # 10 rows: batches of 3, 3, 3, 1
    assert (totals["scanned"], totals["reindexed"]) == (10, 5)
    assert [_found(store, f"customer{i}@gmail.com") for i in range(5)] == customers
    with store.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.operation == "identity.reindex")).scalars().all()
    assert len(entries) == 4
    assert {p for e in entries for p in e.subject_id_list} == set(customers)
    assert all("user.contact.email" in e.category_list and e.outcome == "allowed" for e in entries)


def test_a_subject_erased_before_the_rules_stays_suppressed_in_the_form_it_was_stored(store: Store) -> None:
    """Erasure keeps only blind indexes, which cannot be re-indexed: ingestion also checks the old form."""
    customer = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, customer, "J.Smith+shop@googlemail.com")
    doors.execute(store, OFFICER, verified_request(store, "erasure", customer).id)
    replayed, other = ingest_all(
        store, event({"email": "j.smith+SHOP@googlemail.com"}), event({"email": "someone.else@gmail.com"})
    )
    assert replayed.status == "rejected" and replayed.errors == [SUPPRESSED]
    assert other.status == "stored"
    assert earlier_forms("email", "J.Smith+shop@googlemail.com") == {"j.smith+shop@googlemail.com"}
    assert earlier_forms("email", "jsmith@gmail.com") == set() and earlier_forms("phone", "+4930123456") == set()


def test_the_command_reports_what_it_did(store: Store, cli_env: Settings) -> None:
    customer = _customer(store, {"external_id": "crm-1"})
    email_in_old_form(store, customer, "J.Smith+shop@googlemail.com")
    ran = CliRunner().invoke(app, ["identity", "reindex", "--kind", "email"])
    assert ran.exit_code == 0, ran.output
    assert "1 scanned, 1 reindexed, 0 duplicates, 0 merged" in ran.output
    assert _found(store, "jsmith@gmail.com") == customer
    refused = CliRunner().invoke(app, ["identity", "reindex", "--kind", "fingerprint"])
    assert refused.exit_code == 1 and "unknown fingerprint" in refused.output


def _customers(store: Store, events: list[dict]) -> set[frozenset[str]]:
    """Ingest the events in batches as a shop would; the records (source event ids) of each customer."""
    for start in range(0, len(events), 200):
        ingest_all(store, *events[start : start + 200])
    groups: dict[str, set[str]] = {}
    for record, root in identity_eval.final_roots(store).items():
        groups.setdefault(root, set()).add(record)
    return {frozenset(g) for g in groups.values()}


def test_a_store_from_before_the_rules_once_reindexed_links_as_one_ingested_under_them(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The eval's generated customers (Gmail dots, +tags and googlemail.com across channels), ingested once with
    emails only lower-cased as before the provider rules, then re-indexed: the same customers as ingesting
    them under the rules gives (resolution is the oracle: re-indexing decides as it would)."""
    generator = identity_eval.Generator(11)
    events = [raw for raw, _ in generator.events(generator.people(300))]
    with bench_store() as fresh:
        expected = _customers(fresh, events)
    canonical = identity_rules.canonical_email

    def lower_cased_only(text: str) -> str:  # the normalization before the provider rules
        canonical(text)  # the same validity check
        return text.lower()

    monkeypatch.setattr(identity_rules, "canonical_email", lower_cased_only)
    before = _customers(store, events)
    monkeypatch.undo()
    assert before != expected  # the gap: variants of one mailbox made separate customers
    totals = _reindex(store)
    assert totals["merged"] > 0 and totals["duplicates"] > 0 and totals["reindexed"] > 0
    after: dict[str, set[str]] = {}
    for record, root in identity_eval.final_roots(store).items():
        after.setdefault(root, set()).add(record)
    assert {frozenset(g) for g in after.values()} == expected
