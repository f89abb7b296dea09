"""Throttling and quota rules: what may be sent, to whom, how often. Pure: no I/O, no clock.

Time is always passed in as ``now``, POSIX seconds (UTC). A :class:`LimitPolicy` holds every
configurable number; an implementation of :class:`smsgate.ports.limits.Limiter` holds the counts.

Limits and the codes they answer
--------------------------------
Per account, per destination number and per message type (``OTP`` verification, ``NOTIFY``
notification, ``MKT`` promotion), a minute, an hour and a day limit:
``BUSINESS_LIMIT_CONTROL_MINUTE``, ``isv.BUSINESS_LIMIT_HOUR``, ``isv.BUSINESS_LIMIT_DAY``.
Per account and destination number, a daily cap across all types: ``BUSINESS_LIMIT_CONTROL_PHONE``.
Per account, a daily and a monthly quota: ``isv.DAY_LIMIT_CONTROL``, ``isv.MONTH_LIMIT_CONTROL``.
For the whole platform, a daily quota: ``isv.SYSTEM_LIMIT_CONTROL`` (configured for the platform,
not in the policy). ``None`` means "no limit"; a limit is otherwise a whole number >= 1 (0 is
refused: a limit that refuses everything is a blocked account or template, which is said
elsewhere, and JSON configs often use 0 for "unlimited", so accepting it would invite the
opposite of what was meant).

Per-number limits are scoped per account: one account's traffic to a number never throttles
another account's. (Alibaba additionally caps verification codes to a number across all senders;
smsgate does not, so that customers cannot throttle one another.)

Windows
-------
- **Minute and hour limits of a number and type are sliding.** A message accepted at time ``t``
  counts against a message at ``now`` while ``now - t < 60`` (minute) or ``now - t < 3600``
  (hour) seconds: it counts for exactly 60 s (3,600 s) after it was accepted, and a message at
  exactly ``t + 60`` (``t + 3600``) no longer sees it. So "1 a minute" means at least 60 s
  between two messages, whenever they are sent.
- **Day limits of a number and type, and the daily cap of a number across types, are calendar
  days in UTC**: every message accepted from 00:00:00 UTC up to, not including, the next
  00:00:00 UTC counts; the counts start again from zero at midnight UTC.
- **The account's daily quota and the platform's daily quota are the same UTC calendar days; the
  account's monthly quota is the UTC calendar month** (from 00:00:00 UTC on the 1st to the 1st of
  the next month).

Alibaba documents its day limits as the 24 hours before the send. smsgate uses UTC calendar days
for every day limit instead, so that they line up with the quotas and the daily statistics, and
so that a day count is one integer per number rather than a list of up to 50 timestamps.

What counts
-----------
A message counts once (not once per segment) when it is accepted, whatever happens to its
delivery afterwards; Alibaba counts an accepted submission the same way. A message refused by
any rule, here or later (store failure, no balance: the limiter's ``release``), counts nowhere.
Messages accepted earlier in the same request count against later ones.

Precedence
----------
When several limits refuse a message, the code answered is the first in this order:

1. platform daily quota            ``isv.SYSTEM_LIMIT_CONTROL``
2. account monthly quota           ``isv.MONTH_LIMIT_CONTROL``
3. account daily quota             ``isv.DAY_LIMIT_CONTROL``
4. number's daily cap, all types   ``BUSINESS_LIMIT_CONTROL_PHONE``
5. number and type, day            ``isv.BUSINESS_LIMIT_DAY``
6. number and type, hour           ``isv.BUSINESS_LIMIT_HOUR``
7. number and type, minute         ``BUSINESS_LIMIT_CONTROL_MINUTE``

:func:`refusal` is this order, and the one place it is written: a limiter counts, and asks it
(the in-memory limiter inlines the same checks for speed; the limiter contract suite holds every
limiter to it, message by message).

The most general refusal comes first: wider scope before narrower (everyone, this account, this
number, this number and type), and within one scope the longer window before the shorter. The
code then tells the client how far the refusal reaches: "nothing more from this account this
month" rather than "not this number this minute", which would invite a retry a minute later
that must fail again. It also means a message refused by a quota never reaches the per-number
state, so a flood past a quota costs no memory per number.

Defaults
--------
``OTP``: 1 a minute, 5 an hour, 10 a day, as Alibaba documents for verification codes.
``NOTIFY`` and ``MKT``: no minute or hour limit, 50 a day, as Alibaba documents for notification
and promotion messages (per signature and template there; per type here). A number's daily cap
across types: 50, the largest of the type defaults, so it only binds when a mix of types adds up
past what any one type may send. Account quotas: none.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from smsgate import errors
from smsgate.errors import ResultCode

__all__ = [
    "DAY_S",
    "HOUR_S",
    "MESSAGE_TYPES",
    "MINUTE_S",
    "LimitPolicy",
    "Usage",
    "WindowLimits",
    "refusal",
    "utc_day_bounds",
    "utc_month_bounds",
]

#: The message types a policy has limits for, as the core names them.
MESSAGE_TYPES: tuple[str, ...] = ("OTP", "NOTIFY", "MKT")
MINUTE_S = 60.0
HOUR_S = 3600.0
DAY_S = 86400.0

_WINDOW_KEYS = ("per_minute", "per_hour", "per_day")
_POLICY_KEYS = ("per_number_per_day", "account_per_day", "account_per_month")


def _check_limit(key: str, value: object) -> int | None:
    """A limit is ``None`` (unlimited) or an ``int`` >= 1; anything else names its key."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{key} must be a whole number of at least 1, or null for no limit; got {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class WindowLimits:
    """How many messages of one type one number may get a minute, an hour and a day."""

    per_minute: int | None = None
    per_hour: int | None = None
    per_day: int | None = None
    #: How many timestamps a limiter must keep per number to decide the sliding limits: the
    #: larger of the minute and hour limits (the n-th newest timestamp decides a limit of n), or
    #: 0 when neither is set, so that types without sliding limits keep no timestamps at all.
    sliding_cap: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in _WINDOW_KEYS:
            _check_limit(key, getattr(self, key))
        object.__setattr__(self, "sliding_cap", max(self.per_minute or 0, self.per_hour or 0))

    def to_dict(self) -> dict[str, int | None]:
        return {"per_minute": self.per_minute, "per_hour": self.per_hour, "per_day": self.per_day}


OTP_DEFAULT = WindowLimits(per_minute=1, per_hour=5, per_day=10)
NOTIFY_DEFAULT = WindowLimits(per_day=50)
MKT_DEFAULT = WindowLimits(per_day=50)
PER_NUMBER_PER_DAY_DEFAULT = 50


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """Every per-account limit. The platform default is ``LimitPolicy()``; an account's policy
    is that default :meth:`merged` with the account's overrides.

    Stored as JSON through :meth:`to_dict` / :meth:`from_dict`, e.g.::

        {"OTP": {"per_minute": 1, "per_hour": 5, "per_day": 10},
         "NOTIFY": {"per_minute": null, "per_hour": null, "per_day": 50},
         "MKT": {"per_minute": null, "per_hour": null, "per_day": 50},
         "per_number_per_day": 50, "account_per_day": null, "account_per_month": null}

    Limits need not nest: an hour limit above the day limit is allowed (the day limit then binds
    first), so an operator can lower one limit without having to lower the others with it.
    """

    otp: WindowLimits = OTP_DEFAULT
    notify: WindowLimits = NOTIFY_DEFAULT
    mkt: WindowLimits = MKT_DEFAULT
    per_number_per_day: int | None = PER_NUMBER_PER_DAY_DEFAULT
    account_per_day: int | None = None
    account_per_month: int | None = None
    #: ``{"OTP": otp, "NOTIFY": notify, "MKT": mkt}``, built once: limiters look a message's
    #: type up here for every message.
    by_type: Mapping[str, WindowLimits] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("otp", "notify", "mkt"):
            if not isinstance(getattr(self, name), WindowLimits):
                raise ValueError(f"{name.upper()} must be a WindowLimits")
        for key in _POLICY_KEYS:
            _check_limit(key, getattr(self, key))
        object.__setattr__(
            self, "by_type", {"OTP": self.otp, "NOTIFY": self.notify, "MKT": self.mkt}
        )

    def window(self, msg_type: str) -> WindowLimits:
        """The limits of one message type; ``KeyError`` for a type outside :data:`MESSAGE_TYPES`."""
        return self.by_type[msg_type]

    def to_dict(self) -> dict[str, Any]:
        """Every limit, ``None`` for unlimited: JSON-ready, and what :meth:`from_dict` reads."""
        return {
            "OTP": self.otp.to_dict(),
            "NOTIFY": self.notify.to_dict(),
            "MKT": self.mkt.to_dict(),
            "per_number_per_day": self.per_number_per_day,
            "account_per_day": self.account_per_day,
            "account_per_month": self.account_per_month,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LimitPolicy:
        """Read a stored policy. Keys it leaves out take the platform defaults, so a document
        may hold only what differs; an unknown key or a bad value raises ``ValueError`` naming
        the key (``OTP.per_minute``), so a typo is not silently "no limit"."""
        return cls().merged(d)

    def merged(self, overrides: Mapping[str, Any]) -> LimitPolicy:
        """This policy with ``overrides`` (the :meth:`to_dict` shape, any subset) applied.

        A message type's limits merge key by key: ``{"OTP": {"per_day": 20}}`` keeps this
        policy's OTP minute and hour limits. An explicit ``null`` removes a limit.
        """
        if not isinstance(overrides, Mapping):
            raise ValueError(f"a limit policy must be an object; got {type(overrides).__name__}")
        windows = {"OTP": self.otp, "NOTIFY": self.notify, "MKT": self.mkt}
        scalars: dict[str, int | None] = {
            "per_number_per_day": self.per_number_per_day,
            "account_per_day": self.account_per_day,
            "account_per_month": self.account_per_month,
        }
        for key, value in overrides.items():
            if key in windows:
                windows[key] = _merged_window(key, windows[key], value)
            elif key in scalars:
                scalars[key] = _check_limit(key, value)
            else:
                known = ", ".join((*MESSAGE_TYPES, *_POLICY_KEYS))
                raise ValueError(f"{key}: unknown limit (known: {known})")
        return LimitPolicy(
            otp=windows["OTP"],
            notify=windows["NOTIFY"],
            mkt=windows["MKT"],
            per_number_per_day=scalars["per_number_per_day"],
            account_per_day=scalars["account_per_day"],
            account_per_month=scalars["account_per_month"],
        )


def _merged_window(msg_type: str, base: WindowLimits, overrides: object) -> WindowLimits:
    if not isinstance(overrides, Mapping):
        raise ValueError(
            f"{msg_type} must be an object with per_minute, per_hour and per_day; got {overrides!r}"
        )
    values = base.to_dict()
    for key, value in overrides.items():
        if key not in values:
            raise ValueError(f"{msg_type}.{key}: unknown limit (known: {', '.join(_WINDOW_KEYS)})")
        values[key] = _check_limit(f"{msg_type}.{key}", value)
    return WindowLimits(**values)


def utc_day_bounds(now: float) -> tuple[float, float]:
    """The UTC calendar day holding ``now``, as ``[start, end)`` POSIX seconds.

    POSIX time has no leap seconds, so every UTC day is exactly 86,400 of its seconds.
    """
    start = (now // DAY_S) * DAY_S
    return start, start + DAY_S


def utc_month_bounds(now: float) -> tuple[float, float]:
    """The UTC calendar month holding ``now``, as ``[start, end)`` POSIX seconds."""
    t = time.gmtime(now)
    year, month = t.tm_year, t.tm_mon
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    start = calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))
    end = calendar.timegm((next_year, next_month, 1, 0, 0, 0, 0, 0, 0))
    return float(start), float(end)


class Usage(NamedTuple):
    """What was accepted before a message, counted in each window its limits look at: the
    platform's and the account's (UTC day, UTC month), and the destination number's (UTC day,
    every type; this type by UTC day, and within the last 3,600 s and 60 s)."""

    platform_day: int = 0
    account_month: int = 0
    account_day: int = 0
    number_day: int = 0
    number_type_day: int = 0
    number_type_hour: int = 0
    number_type_minute: int = 0


def refusal(
    window: WindowLimits | None,
    policy: LimitPolicy,
    platform_per_day: int | None,
    usage: Usage,
) -> ResultCode | None:
    """The code that refuses one more message after ``usage``, by the precedence in the module
    docstring; None when every limit lets it through. ``window`` is the limits of the message's
    type (``policy.by_type.get(type)``): None, a type the policy does not know, is refused as
    an invalid parameter. A limit of n refuses once n were counted."""
    if window is None:
        return errors.INVALID_PARAMETERS
    checks = (
        (platform_per_day, usage.platform_day, errors.SYSTEM_LIMIT_CONTROL),
        (policy.account_per_month, usage.account_month, errors.MONTH_LIMIT_CONTROL),
        (policy.account_per_day, usage.account_day, errors.DAY_LIMIT_CONTROL),
        (policy.per_number_per_day, usage.number_day, errors.BUSINESS_LIMIT_CONTROL_PHONE),
        (window.per_day, usage.number_type_day, errors.BUSINESS_LIMIT_DAY),
        (window.per_hour, usage.number_type_hour, errors.BUSINESS_LIMIT_HOUR),
        (window.per_minute, usage.number_type_minute, errors.BUSINESS_LIMIT_CONTROL_MINUTE),
    )
    for limit, counted, code in checks:
        if limit is not None and counted >= limit:
            return code
    return None
