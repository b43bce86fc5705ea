"""Amazon order reports (the tab-separated flat file Seller Central and the SP-API reports give: one line per
order item) into `order` events, for `cdp import FILE --format amazon`.

Lines are grouped by order id: one event per order, total = the sum of item-price and shipping-price over its
lines (both are per line, already multiplied by the quantity), in the report's currency. The Amazon order id is
kept in properties (`amazon_order_id`, and `merchant_order_id` when the report has it) so Amazon orders can be
matched to the own shop's; the source event id is `amazon-order-<order id>`, so importing the same report again
stores nothing twice. Identifiers: the buyer id — buyer-id when the report has it, else buyer-email, Amazon's
per-buyer relay address, which stands for one buyer on one marketplace and is never a contact address (the identity
rules never link two customers by a relay email) — and buyer-phone-number. A bad line is reported with its number;
an order with a bad line is not stored (its total would be wrong) and its other lines say so; every other order is
stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SOURCE = "amazon"
REQUIRED = ("order-id", "purchase-date", "sku", "quantity-purchased", "currency", "item-price")
ALIASES = {"amazon-order-id": "order-id", "quantity": "quantity-purchased"}  # the "all orders" report's names


@dataclass
class _Order:
    first_line: int
    lines: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    bad: dict[int, list[str]] = field(default_factory=dict)


def amazon_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | list[str]]]:
    """(line number, event) per order, or (line number, errors) per line that cannot be stored."""
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValueError(f"not an Amazon order report: missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    orders: dict[str, _Order] = {}
    for row in reader:
        number = reader.line_num
        row = {k: (v or "").strip() for k, v in row.items() if k}
        order_id = row.get("order-id", "")
        if not order_id:
            yield number, ["order-id: required"]
            continue
        order = orders.setdefault(order_id, _Order(number))
        problems = _line_problems(row)
        if problems:
            order.bad[number] = problems
        order.lines.append((number, row))
    for order_id, order in orders.items():
        if order.bad:
            bad = ", ".join(str(n) for n in order.bad)
            for number, _ in order.lines:
                yield number, order.bad.get(number) or [f"order {order_id} not stored: line {bad} is bad"]
            continue
        try:
            yield order.first_line, _event(order_id, order.lines)
        except ValueError as exc:
            yield order.first_line, [str(exc)]


def _line_problems(row: dict[str, str]) -> list[str]:
    problems = []
    try:
        _when(row["purchase-date"])
    except ValueError as exc:
        problems.append(str(exc))
    for name in ("item-price", "shipping-price"):
        if row.get(name):
            try:
                Decimal(row[name])
            except InvalidOperation:
                problems.append(f"{name}: not a decimal number")
    if not row["item-price"]:
        problems.append("item-price: required")
    if not row["quantity-purchased"].isdigit() or int(row["quantity-purchased"]) < 1:
        problems.append("quantity-purchased: a whole number of at least 1")
    if len(row["currency"]) != 3 or not row["currency"].isalpha():
        problems.append("currency: a 3-letter ISO 4217 code")
    if not row["sku"]:
        problems.append("sku: required")
    return problems


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("purchase-date: not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError("purchase-date: needs a UTC offset (as Amazon's reports give)")
    return parsed


def _event(order_id: str, lines: list[tuple[int, dict[str, str]]]) -> dict[str, Any]:
    rows = [row for _, row in lines]
    first = rows[0]
    currencies = {row["currency"].upper() for row in rows}
    if len(currencies) > 1:
        raise ValueError(f"order {order_id}: lines in several currencies {sorted(currencies)}")
    total = sum(Decimal(r["item-price"]) + Decimal(r.get("shipping-price") or "0") for r in rows)
    items = [
        {
            "sku": r["sku"],
            "quantity": int(r["quantity-purchased"]),
            "price": r["item-price"],
            "order_item_id": r.get("order-item-id") or None,
            "name": r.get("product-name") or None,
        }
        for r in rows
    ]
    identifiers = {
        "amazon_buyer_id": first.get("buyer-id") or first.get("buyer-email"),
        "phone": first.get("buyer-phone-number"),
    }
    properties: dict[str, Any] = {
        "amazon_order_id": order_id,
        "order_id": order_id,
        "total": str(total),
        "currency": currencies.pop(),
        "items": items,
    }
    for column, key in (("merchant-order-id", "merchant_order_id"), ("sales-channel", "sales_channel")):
        if first.get(column):
            properties[key] = first[column]
    traits = {"full_name": first["buyer-name"]} if first.get("buyer-name") else {}
    return {
        "source": SOURCE,
        "source_event_id": f"amazon-order-{order_id}",
        "type": "order",
        "occurred_at": _when(first["purchase-date"]).isoformat(),
        "country": first.get("ship-country") or None,
        "identifiers": {k: v for k, v in identifiers.items() if v},
        "traits": traits,
        "properties": properties,
    }
