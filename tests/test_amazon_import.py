"""`cdp import FILE --format amazon`: Amazon's tab-separated order report into orders, bad lines named."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from cdp.cli.main import app as cli
from cdp.events.models import Event
from cdp.settings import Settings
from cdp.store import Store
from tests.reads import events, identities, traits

REPORT = Path(__file__).resolve().parent / "fixtures" / "amazon" / "orders.txt"
runner = CliRunner()


def _orders(store: Store) -> list[Event]:
    with store.session() as session:
        return list(
            session.execute(select(Event).where(Event.source == "amazon").order_by(Event.occurred_at)).scalars()
        )


def test_orders_are_stored_and_bad_lines_reported_by_number(store: Store, cli_env: Settings) -> None:
    result = runner.invoke(cli, ["import", str(REPORT), "--format", "amazon"])
    assert result.exit_code == 1  # some lines were rejected
    out = " ".join(result.output.split())
    assert "line 5: purchase-date: not an ISO 8601 date-time" in out
    assert "line 6: order 111-0000000-0000001 not stored: line 5 is bad" in out
    assert "line 7: quantity-purchased: a whole number of at least 1" in out
    assert "2 stored, 0 duplicates, 3 rejected" in out
    assert "Sam Lee" not in out and "x1@marketplace" not in out  # errors never echo personal values

    berlin, tokyo = sorted(_orders(store), key=lambda e: e.currency or "")
    # Hand-computed: 39.80 + 4.99 shipping + 12.00 = 56.79 EUR; 2980 JPY.
    assert (berlin.amount_minor, berlin.currency, tokyo.amount_minor, tokyo.currency) == (5679, "EUR", 2980, "JPY")
    assert berlin.source_event_id == "amazon-order-028-1234567-1234567"
    with store.session() as session:
        [order] = events(session, store, berlin.profile_id)
        assert order.properties["amazon_order_id"] == "028-1234567-1234567"
        assert order.properties["merchant_order_id"] == "1001"  # to match the own shop's order
        assert [(i["sku"], i["quantity"]) for i in order.properties["items"]] == [("TS-950", 2), ("MUG-11", 1)]
        held = {(i.kind, i.value) for i in identities(session, store, berlin.profile_id)}
        assert ("amazon_buyer_id", "5xk3mf1vb2qwl4k@marketplace.amazon.de") in held and ("phone", "+4930901820") in held
        assert traits(session, store, tokyo.profile_id)["full_name"].value == "佐藤 花子"

    again = runner.invoke(cli, ["import", str(REPORT), "--format", "amazon"])
    assert "0 stored, 2 duplicates" in " ".join(again.output.split())
    assert len(_orders(store)) == 2


def test_a_file_that_is_not_an_order_report_is_refused_by_name(tmp_path: Path, cli_env: Settings) -> None:
    wrong = tmp_path / "x.txt"
    wrong.write_text("order-id\tsku\n1\tA\n")
    result = runner.invoke(cli, ["import", str(wrong), "--format", "amazon"])
    assert result.exit_code == 1
    assert "missing column(s) purchase-date, quantity-purchased, currency, item-price" in " ".join(
        result.output.split()
    )
