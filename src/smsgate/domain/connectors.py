"""Upstream SMPP connectors as the operator configures them: one :class:`ConnectorSpec` each.

Connectors live in the policy document ``connectors`` (``{name: {field: value}}``), so a running
server picks changes up within ``refresh_s``, as it does SMPP credentials: an added connector
binds, a removed one drains, a changed one reconnects with its new settings. The password is
stored sealed (``password_sealed``, AES-GCM under the data directory's master key) because,
unlike an SMPP client's password, it must be sent to the carrier again: it cannot be a hash.

Pure: validation and (de)serialisation only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final, Literal

from smsgate.domain.carrier_receipts import ID_FORMATS, IdFormat

__all__ = [
    "BIND_MODES",
    "DOCUMENT",
    "LONG_METHODS",
    "ConnectorSpec",
    "check_password",
    "parse_connectors_document",
]

DOCUMENT: Final = "connectors"
BindMode = Literal["transceiver", "tx+rx"]
BIND_MODES: Final = ("transceiver", "tx+rx")
#: How a long message goes out: UDH in the short_message (esm_class 0x40), SAR TLVs, or the whole
#: text in one message_payload TLV (the SMSC splits it).
LongMethod = Literal["udh", "sar", "payload"]
LONG_METHODS: Final = ("udh", "sar", "payload")
#: data_coding for text that fits GSM-7: 0 (the SMSC default alphabet) or 1 (IA5/ASCII), or
#: 3 (Latin-1), whichever the carrier reads as GSM text. UCS-2 text is always 8.
TEXT_CODINGS: Final = (0, 1, 3)
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
#: SMPP 3.4 §4.1.1: system_id at most 15 characters, password 8, system_type 12.
_MAX_SYSTEM_ID, _MAX_PASSWORD, _MAX_SYSTEM_TYPE = 15, 8, 12


@dataclass(frozen=True, slots=True)
class ConnectorSpec:
    """One upstream SMSC and how to talk to it."""

    name: str
    host: str
    port: int
    system_id: str
    password_sealed: str  # the password, sealed with the master key (never stored in clear)
    tls: bool = False
    system_type: str = ""
    bind_mode: BindMode = "transceiver"
    binds: int = 1  # sessions (of bind_mode) held open at once
    window: int = 10  # submit_sm in flight per bind
    tps: float = 0.0  # submits per second over all binds; 0: no limit
    enquire_link_s: float = 30.0
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    response_timeout_s: float = 30.0  # a submit_sm without an answer is retried after this
    source_ton: int | None = None  # None: 5 (alphanumeric) for a name, 1 for a number
    source_npi: int | None = None
    text_coding: int = 0
    long_method: LongMethod = "udh"
    receipt_ids: IdFormat = "auto"
    receipt_codes: Mapping[str, str] = field(default_factory=dict)  # STAT[:ERR] -> receipt code

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ValueError(f"connector {self.name!r}: " + "; ".join(problems))

    def to_document(self) -> dict[str, Any]:
        """The JSON object stored for it (its name is the key, not a field)."""
        stored = asdict(self)
        del stored["name"]
        stored["receipt_codes"] = dict(self.receipt_codes)
        return stored

    @property
    def address(self) -> str:
        return f"{'smpps' if self.tls else 'smpp'}://{self.host}:{self.port}"


def _problems(spec: ConnectorSpec) -> list[str]:
    found = []
    if not _NAME.fullmatch(spec.name):
        found.append("name must be 1-32 letters, digits, '_', '.' or '-', starting alphanumeric")
    if spec.name == "simulator":
        found.append("'simulator' is the built-in simulator's name")
    if not spec.host or any(c.isspace() for c in spec.host):
        found.append("host is required, without spaces")
    if not 1 <= spec.port <= 65_535:
        found.append("port must be 1-65535")
    if not 1 <= len(spec.system_id) <= _MAX_SYSTEM_ID or not spec.system_id.isascii():
        found.append(f"system_id must be 1-{_MAX_SYSTEM_ID} ASCII characters")
    if len(spec.system_type) > _MAX_SYSTEM_TYPE or not spec.system_type.isascii():
        found.append(f"system_type must be at most {_MAX_SYSTEM_TYPE} ASCII characters")
    if not spec.password_sealed:
        found.append("a password is required")
    if spec.bind_mode not in BIND_MODES:
        found.append(f"bind_mode must be one of {', '.join(BIND_MODES)}")
    if not 1 <= spec.binds <= 64:
        found.append("binds must be 1-64")
    if not 1 <= spec.window <= 10_000:
        found.append("window must be 1-10000")
    if spec.tps < 0:
        found.append("tps must be 0 (no limit) or more")
    for name in ("enquire_link_s", "reconnect_initial_s", "reconnect_max_s", "response_timeout_s"):
        if getattr(spec, name) <= 0:
            found.append(f"{name} must be more than 0")
    if spec.reconnect_max_s < spec.reconnect_initial_s:
        found.append("reconnect_max_s must be at least reconnect_initial_s")
    for name in ("source_ton", "source_npi"):
        value = getattr(spec, name)
        if value is not None and not 0 <= value <= 255:
            found.append(f"{name} must be 0-255")
    if spec.text_coding not in TEXT_CODINGS:
        found.append(f"text_coding must be one of {', '.join(map(str, TEXT_CODINGS))}")
    if spec.long_method not in LONG_METHODS:
        found.append(f"long_method must be one of {', '.join(LONG_METHODS)}")
    if spec.receipt_ids not in ID_FORMATS:
        found.append(f"receipt_ids must be one of {', '.join(ID_FORMATS)}")
    return found


def check_password(password: str) -> None:
    """The password an upstream SMSC gave: ValueError unless SMPP can carry it (§4.1.1: at most
    8 characters, ASCII). Checked in clear, before it is sealed."""
    if not 1 <= len(password) <= _MAX_PASSWORD or not password.isascii():
        raise ValueError(f"the password must be 1-{_MAX_PASSWORD} ASCII characters")
    if not password.isprintable():
        raise ValueError("the password must be printable characters")


_FIELDS: Final = {f.name for f in fields(ConnectorSpec)} - {"name"}
_REQUIRED: Final = frozenset({"host", "port", "system_id", "password_sealed"})
#: JSON types of the settings (bool is not an int here, though it is in Python).
_TEXT = (str,)
_WHOLE = (int,)
_NUMBER = (int, float)
_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "host": _TEXT, "port": _WHOLE, "system_id": _TEXT, "password_sealed": _TEXT, "tls": (bool,),
    "system_type": _TEXT, "bind_mode": _TEXT, "binds": _WHOLE, "window": _WHOLE,
    "tps": _NUMBER, "enquire_link_s": _NUMBER, "reconnect_initial_s": _NUMBER,
    "reconnect_max_s": _NUMBER, "response_timeout_s": _NUMBER, "source_ton": _WHOLE,
    "source_npi": _WHOLE, "text_coding": _WHOLE, "long_method": _TEXT, "receipt_ids": _TEXT,
    "receipt_codes": (dict,),
}  # fmt: skip
_TYPE_NAMES: Final = {
    _TEXT: "text", _WHOLE: "a whole number", _NUMBER: "a number", (bool,): "true or false",
    (dict,): "an object",
}  # fmt: skip


def _type_problems(settings: Mapping[str, Any]) -> list[str]:
    found = []
    for key, value in settings.items():
        if value is None and key in ("source_ton", "source_npi"):
            continue
        wanted = _TYPES[key]
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            found.append(f"{key} must be {_TYPE_NAMES[wanted]}")
    codes = settings.get("receipt_codes", {})
    if isinstance(codes, dict) and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in codes.items()
    ):
        found.append("receipt_codes must map STAT or STAT:ERR to a receipt code")
    return found


def parse_connectors_document(doc: Any) -> dict[str, ConnectorSpec]:
    """The ``connectors`` document as specs by name; ValueError saying what is wrong."""
    if not isinstance(doc, dict):
        raise ValueError("connectors must be a JSON object of name -> settings")
    specs = {}
    for name, settings in doc.items():
        if not isinstance(settings, dict):
            raise ValueError(f"connector {name!r} must be a JSON object")
        unknown = set(settings) - _FIELDS
        if unknown:
            raise ValueError(f"connector {name!r}: unknown settings {', '.join(sorted(unknown))}")
        missing = _REQUIRED - set(settings)
        if missing:
            raise ValueError(f"connector {name!r}: missing {', '.join(sorted(missing))}")
        problems = _type_problems(settings)
        if problems:
            raise ValueError(f"connector {name!r}: " + "; ".join(problems))
        specs[name] = ConnectorSpec(name=name, **settings)
    return specs
