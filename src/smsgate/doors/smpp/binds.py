"""Who may bind: the system_id's credential, its password, its account's state and bind limit.

:class:`BindChecker` answers a bind_* with a :class:`BindVerdict`: the command_status to answer
and, for the log line every bind and refused bind gets, why and for which account. The names here
(:func:`bind_type`, :func:`status_name`) are what those log lines print; the password never is.

Password hashes are what a guesser makes the server pay for, so they are rationed: a system_id or
host with too many recent failures is refused before any hash (:mod:`.lockout`), at most
``password_checks`` hashes run at once on their own threads (never on the event loop, and never
all the cores), and no more than ``max_waiting`` binds queue for one; the rest are refused at
once. A lock starting is logged once (``smpp.bind_locked``), not every refusal it causes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from smsgate.errors import SmsError
from smsgate.logs import log_event
from smsgate.ports.store import AccountStore
from smsgate.service.access import check_account_usable
from smsgate.service.smpp_accounts import SmppCredential, SmppCredentials, verify_password
from smsgate.smpp.constants import CommandId, CommandStatus
from smsgate.smpp.events import BindPdu

from .lockout import BindLockout

__all__ = ["BindChecker", "BindVerdict", "bind_type", "status_name"]

log = logging.getLogger(__name__)

_BIND_TYPES: Final = {
    CommandId.BIND_TRANSMITTER: "transmitter",
    CommandId.BIND_RECEIVER: "receiver",
    CommandId.BIND_TRANSCEIVER: "transceiver",
}


@dataclass(frozen=True, slots=True)
class BindVerdict:
    """``status`` answers the bind; ``reason`` says why it is refused ("" when accepted)."""

    status: int
    reason: str = ""
    credential: SmppCredential | None = None  # once the system_id is known
    #: Refused without a look at the password (a lock, too many waiting): logged at debug
    #: level, so that a flood of guesses does not become a flood of log lines.
    quiet: bool = False

    @property
    def accepted(self) -> bool:
        return self.status == CommandStatus.ESME_ROK

    @property
    def account_id(self) -> str | None:
        return None if self.credential is None else self.credential.account_id


class BindChecker:
    """Checks binds against the credentials and the binds already counted per account.

    The bind limit is checked after the last await, so the caller that counts an accepted bind
    in ``binds`` before awaiting anything never lets two binds past one free place.
    """

    def __init__(
        self,
        credentials: SmppCredentials,
        accounts: AccountStore,
        binds: Counter[str],
        *,
        max_binds: int,
        lockout: BindLockout,
        password_checks: int,
        max_waiting: int,
        monotonic: Callable[[], float],
    ) -> None:
        self._credentials = credentials
        self._accounts = accounts
        self._binds = binds
        self._max_binds = max_binds
        self._lockout = lockout
        self._hashing = ThreadPoolExecutor(password_checks, thread_name_prefix="smpp-password")
        self._max_waiting = max_waiting
        self._waiting = 0
        self._monotonic = monotonic

    def close(self) -> None:
        """Stop the hashing threads (a check still running finishes first)."""
        self._hashing.shutdown(wait=True)

    async def check(self, pdu: BindPdu, host: str) -> BindVerdict:
        lock = self._lockout.lock_of(pdu.system_id, host, self._monotonic())
        if lock is not None:
            left = lock.until - self._monotonic()
            reason = f"{lock.key} is locked for {left:.0f} s after failed binds"
            return BindVerdict(CommandStatus.ESME_RBINDFAIL, reason, quiet=True)
        if self._waiting >= self._max_waiting:
            reason = f"{self._waiting} binds already wait for a password check"
            return BindVerdict(CommandStatus.ESME_RBINDFAIL, reason, quiet=True)
        self._waiting += 1
        try:
            verdict = await self._check_password(pdu)
        finally:
            self._waiting -= 1
        if verdict.status in _GUESSES:
            self._failed(pdu.system_id, host)
            return verdict
        self._lockout.succeeded(pdu.system_id, host)
        return await self._check_account(verdict)

    async def _check_password(self, pdu: BindPdu) -> BindVerdict:
        credential = await self._credentials.lookup(pdu.system_id)
        if credential is None:
            return BindVerdict(CommandStatus.ESME_RINVSYSID, "unknown system_id")
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(
            self._hashing, verify_password, pdu.password, credential.password_hash
        )
        if not ok:
            return BindVerdict(CommandStatus.ESME_RINVPASWD, "wrong password", credential)
        return BindVerdict(CommandStatus.ESME_ROK, "", credential)

    async def _check_account(self, verdict: BindVerdict) -> BindVerdict:
        credential = verdict.credential
        assert credential is not None
        account = await self._accounts.get_account(credential.account_id)
        if account is None:
            return BindVerdict(CommandStatus.ESME_RBINDFAIL, "no such account", credential)
        try:
            check_account_usable(account)
        except SmsError as exc:
            reason = f"the account is {account.state.value} ({exc.result.code})"
            return BindVerdict(CommandStatus.ESME_RBINDFAIL, reason, credential)
        if self._binds[account.id] >= self._max_binds:
            reason = f"the account has max_binds ({self._max_binds}) binds"
            return BindVerdict(CommandStatus.ESME_RBINDFAIL, reason, credential)
        return verdict

    def _failed(self, system_id: str, host: str) -> None:
        lockout = self._lockout
        for lock in lockout.failed(system_id, host, self._monotonic()):
            log_event(
                log,
                logging.WARNING,
                "smpp.bind_locked",
                key=lock.key,
                failures=lockout.max_failures,
                window_s=lockout.window_s,
                lock_s=lockout.lock_s,
            )


#: Bind refusals that a password guesser causes: they count towards a lock.
_GUESSES: Final = frozenset({CommandStatus.ESME_RINVSYSID, CommandStatus.ESME_RINVPASWD})


def bind_type(pdu: BindPdu) -> str:
    """transmitter, receiver or transceiver."""
    return _BIND_TYPES[CommandId(pdu.command_id)]


def status_name(status: int) -> str:
    """ESME_RINVPASWD and the like; hex for a status SMPP 3.4 does not name."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"
