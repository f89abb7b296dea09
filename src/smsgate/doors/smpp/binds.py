"""Who may bind: the system_id's credential, its password, its account's state and bind limit.

:class:`BindChecker` answers a bind_* with a :class:`BindVerdict`: the command_status to answer
and, for the log line every bind and refused bind gets, why and for which account. The names here
(:func:`bind_type`, :func:`status_name`) are what those log lines print; the password never is.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Final

from smsgate.errors import SmsError
from smsgate.ports.store import AccountStore
from smsgate.service.access import check_account_usable
from smsgate.service.smpp_accounts import SmppCredential, SmppCredentials, verify_password
from smsgate.smpp.constants import CommandId, CommandStatus
from smsgate.smpp.events import BindPdu

__all__ = ["BindChecker", "BindVerdict", "bind_type", "status_name"]

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
    ) -> None:
        self._credentials = credentials
        self._accounts = accounts
        self._binds = binds
        self._max_binds = max_binds

    async def check(self, pdu: BindPdu) -> BindVerdict:
        credential = await self._credentials.lookup(pdu.system_id)
        if credential is None:
            return BindVerdict(CommandStatus.ESME_RINVSYSID, "unknown system_id")
        ok = await asyncio.to_thread(verify_password, pdu.password, credential.password_hash)
        if not ok:
            return BindVerdict(CommandStatus.ESME_RINVPASWD, "wrong password", credential)
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
        return BindVerdict(CommandStatus.ESME_ROK, "", credential)


def bind_type(pdu: BindPdu) -> str:
    """transmitter, receiver or transceiver."""
    return _BIND_TYPES[CommandId(pdu.command_id)]


def status_name(status: int) -> str:
    """ESME_RINVPASWD and the like; hex for a status SMPP 3.4 does not name."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"
