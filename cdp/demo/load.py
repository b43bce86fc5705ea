"""`cdp demo`: generate the deterministic dataset and load it through the one ingest service."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlmodel import col

from cdp.access.gate import AccessContext
from cdp.auth.service import demo_admin_key
from cdp.consents.service import record_consent
from cdp.demo.generate import generate_demo
from cdp.identity.models import MergeRecord, Profile, ReviewItem
from cdp.ingest.service import INGEST_ATTEMPTS, ingest
from cdp.segments import service as segments
from cdp.segments.language import parse_text
from cdp.store import Store
from cdp.traits.service import compute_all

BATCH_SIZE = 500
SEGMENTS = Path(__file__).with_name("segments")


def load_demo(
    store: Store, *, people: int, seed: int, access: AccessContext, console: Console | None = None
) -> dict[str, Any]:
    """Load the demo dataset; returns what was loaded (counts only, never values) and the demo admin API key
    (the same one on every run while it is valid)."""
    dataset = generate_demo(seed=seed, people=people)
    statuses: Counter[str] = Counter()
    rejected: list[str] = []
    subscribers: dict[str, datetime] = {}
    columns = (TextColumn("loading demo"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as bar:
        task = bar.add_task("demo", total=len(dataset.events))
        for start in range(0, len(dataset.events), BATCH_SIZE):
            batch = dataset.events[start : start + BATCH_SIZE]
            work = partial(ingest, store=store, access=access, raw_events=batch)
            outcomes = store.run(work, attempts=INGEST_ATTEMPTS)
            for outcome in outcomes:
                statuses[outcome.status] += 1
                sent = batch[outcome.index]
                if outcome.status == "stored" and sent["type"] == "subscribe" and outcome.profile_id:
                    subscribers.setdefault(outcome.profile_id, datetime.fromisoformat(sent["occurred_at"]))
                if outcome.status == "rejected":
                    rejected.append(f"event {start + outcome.index}: {'; '.join(outcome.errors)}")
            bar.advance(task, len(batch))
    with store.session() as session:
        # A newsletter sign-up is a (double opt-in) grant of email marketing: record it as imported consent.
        for profile_id, signed_up in subscribers.items():
            record_consent(
                session, access, profile_id=profile_id, purpose="marketing.email", status="granted",
                source="import", notice_version="newsletter-2025", recorded_at=signed_up,
            )  # fmt: skip
        customers = session.execute(
            select(func.count()).select_from(Profile).where(col(Profile.merged_into).is_(None))
        ).scalar_one()
        merges = session.execute(select(func.count()).select_from(MergeRecord)).scalar_one()
        reviews = session.execute(select(func.count()).select_from(ReviewItem)).scalar_one()
        secret = demo_admin_key(session, store.settings.data_dir / "demo-admin.key")
        session.commit()
    segments = _marketing(store)
    summary = dataset.summary()
    return {
        "people_generated": len(dataset.people),
        "events": dict(statuses),
        "rejected": rejected[:20],
        "customers_after_resolution": customers,
        "customers_expected": sum(p.expected_profiles for p in dataset.people),
        "merges": merges,
        "email_marketing_consents": len(subscribers),
        "review_items": reviews,
        "segments": segments,
        "people_per_country": summary["people_per_country"],
        "orders_per_currency": summary["orders_per_currency"],
        "events_per_source": summary["events_per_source"],
        "admin_api_key": secret,
        "try": (
            "curl -s http://127.0.0.1:8000/graphql -H 'Content-Type: application/json' "
            f"-H 'Authorization: Bearer {secret}' -H 'X-CDP-Purpose: support' "
            '-d \'{"query": "{ profiles(first: 3) { nodes { id firstName lastName country email } } }"}\''
        ),
    }


def _marketing(store: Store) -> dict[str, int]:
    """Compute traits and ship the demo segments (cdp/demo/segments/*.yaml); members per segment."""
    access = AccessContext.operator("marketing")
    with store.session() as session:
        compute_all(session, store, AccessContext.operator("analytics"))
        sizes = {}
        for path in sorted(SEGMENTS.glob("*.yaml")):
            segment = segments.create_segment(session, access, parse_text(path.read_text(encoding="utf-8")))
            sizes[segment.name] = segments.evaluate_segment(session, access, segment.id).members
        session.commit()
    return sizes
