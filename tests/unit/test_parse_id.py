"""Message ids as the stores take them: canonical decimal strings below 2**63, else unknown."""

from __future__ import annotations

import pytest

from smsgate.adapters.storage.common import parse_id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1", 1),
        ("0", 0),
        ("7270310862186500096", 7270310862186500096),  # 19 digits, as issued
        ("9" * 18, 10**18 - 1),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),  # 2**63: past SQLite's integers
        ("9" * 19, None),
        ("9" * 20, None),
        ("00", None),
        ("0123", None),  # not canonical: it would name another id's row
        ("", None),
        ("١٢٣", None),  # digits, but not ASCII ones
        ("12a", None),
        (" 12", None),
        ("-1", None),
        ("+1", None),
    ],
)
def test_only_canonical_ids_below_2_63_are_ids(given: str, expected: int | None) -> None:
    assert parse_id(given) == expected
