"""Prices: what one segment to a destination costs, per country and optionally per network.

The operator keeps the price table as a JSON document (``prices``)::

    {"default": "0.05",
     "countries": {"SG": {"price": "0.04", "carriers": {"SingTel": "0.035"}},
                   "ID": {"price": "0.06"}}}

Amounts are decimal strings in the account's currency, held as integer micro-units. A country with
no entry costs ``default``; with no default either, the destination is not priced, and sending to
it is refused with ``isv.NOT_SUPPORTED_COUNTRY`` (there is nothing to charge, so it cannot be
sold). A network's price overrides its country's price. The document names networks (mobile
operators) ``carriers``, as published; in the code they are networks, since a carrier is where
smsgate hands messages over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["MICROS", "PriceTable", "format_micros", "parse_amount"]

MICROS = 1_000_000
#: The largest amount and balance (one trillion units): a balance stays far from the 64-bit
#: integer the stores keep it in, however many amounts are added to it.
MAX_AMOUNT_MICROS = 10**12 * MICROS


def parse_amount(value: object, where: str = "amount") -> int:
    """A decimal amount ("0.05", 0.05 or 5) in micro-units; ValueError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f'{where} must be a decimal amount such as "0.05"')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{where}: {value!r} is not a positive amount")
    micros = amount * MICROS
    if micros > MAX_AMOUNT_MICROS:
        raise ValueError(f"{where}: {value!r} is more than {MAX_AMOUNT_MICROS // MICROS}")
    if micros != micros.to_integral_value():
        raise ValueError(f"{where}: {value!r} has more than 6 decimal places")
    return int(micros)


def format_micros(micros: int) -> str:
    amount = (Decimal(micros) / MICROS).quantize(Decimal("0.000001")).normalize()
    return f"{amount:f}"


@dataclass(frozen=True, slots=True)
class PriceTable:
    default_micros: int | None = None
    countries: Mapping[str, int] = field(default_factory=dict)
    networks: Mapping[tuple[str, str], int] = field(default_factory=dict)

    def segment_price(self, region_code: str, network: str) -> int | None:
        """Micro-units per segment, or None if the destination has no price."""
        price = self.networks.get((region_code, network))
        if price is not None:
            return price
        return self.countries.get(region_code, self.default_micros)

    @classmethod
    def from_dict(cls, doc: Any) -> PriceTable:
        if not isinstance(doc, dict):
            raise ValueError("the price table must be a JSON object")
        unknown = set(doc) - {"default", "countries"}
        if unknown:
            raise ValueError(f"unknown keys in the price table: {', '.join(sorted(unknown))}")
        default = doc.get("default")
        countries: dict[str, int] = {}
        networks: dict[tuple[str, str], int] = {}
        raw_countries = doc.get("countries", {})
        if not isinstance(raw_countries, dict):
            raise ValueError("countries must be an object keyed by ISO country code")
        for code, entry in raw_countries.items():
            if not (isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isupper()):
                raise ValueError(f"{code!r} is not an ISO 3166 alpha-2 country code such as SG")
            if not isinstance(entry, dict) or not set(entry) <= {"price", "carriers"}:
                raise ValueError(f'countries.{code} must be {{"price": ..., "carriers": ...}}')
            if "price" in entry:
                countries[code] = parse_amount(entry["price"], f"countries.{code}.price")
            raw_carriers = entry.get("carriers", {})
            if not isinstance(raw_carriers, dict):
                raise ValueError(f"countries.{code}.carriers must be an object")
            for name, price in raw_carriers.items():
                where = f"countries.{code}.carriers.{name}"
                networks[(code, str(name))] = parse_amount(price, where)
        return cls(
            default_micros=None if default is None else parse_amount(default, "default"),
            countries=countries,
            networks=networks,
        )

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.default_micros is not None:
            doc["default"] = format_micros(self.default_micros)
        countries: dict[str, dict[str, Any]] = {}
        for code, price in self.countries.items():
            countries.setdefault(code, {})["price"] = format_micros(price)
        for (code, name), price in self.networks.items():
            countries.setdefault(code, {}).setdefault("carriers", {})[name] = format_micros(price)
        if countries:
            doc["countries"] = countries
        return doc
