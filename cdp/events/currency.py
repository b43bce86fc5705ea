"""Money: ISO-4217 minor units and conversion to the base currency from a shipped rates table."""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

RATES_FILE = Path(__file__).resolve().parents[1] / "data" / "exchange_rates.csv"
# ISO-4217 exponents that differ from 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def to_minor(amount: object, currency: str) -> int:
    """'12.34' EUR -> 1234; '1500' JPY -> 1500. More decimals than the currency has are an error."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise MoneyError(f"amount is not a decimal number (currency {currency})") from None
    if not value.is_finite():
        raise MoneyError("amount is not a finite number")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"amount has more decimals than {currency} allows ({exponent(currency)})")
    return int(scaled)


@dataclass
class RateTable:
    """Units per base currency by date; conversion goes through USD so any base works."""

    rates: dict[str, tuple[list[date], list[Decimal]]]

    @classmethod
    def load(cls, path: Path = RATES_FILE) -> RateTable:
        rows: dict[str, list[tuple[date, Decimal]]] = {}
        lines = (line for line in path.read_text().splitlines() if line and not line.startswith("#"))
        for row in csv.DictReader(lines):
            rows.setdefault(row["currency"], []).append((date.fromisoformat(row["date"]), Decimal(row["per_usd"])))
        return cls({cur: ([d for d, _ in sorted(v)], [r for _, r in sorted(v)]) for cur, v in rows.items()})

    def knows(self, currency: str) -> bool:
        return currency in self.rates

    def per_usd(self, currency: str, on: date) -> Decimal:
        if currency not in self.rates:
            raise MoneyError("unknown currency: not in the rates table")
        dates, values = self.rates[currency]
        i = bisect.bisect_right(dates, on) - 1
        return values[max(i, 0)]

    def convert_minor(self, amount_minor: int, currency: str, base: str, on: date) -> int:
        major = Decimal(amount_minor).scaleb(-exponent(currency))
        in_base = major / self.per_usd(currency, on) * self.per_usd(base, on)
        return int(in_base.scaleb(exponent(base)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
