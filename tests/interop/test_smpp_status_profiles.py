"""The SMPP status profiles as real clients read them: ``seed`` (the seed's SMPP codes, the
default) and ``smpp34`` (standard SMPP 3.4 statuses), chosen per credential or by the server's
``[smpp] status_codes``.

A refused submit must be classified as a generic client classifies it:

- smpplib knows a status when its ``DESCRIPTIONS`` table has it ("Unknown status" otherwise);
- aiosmpplib parses a status only if its ``SmppCommandStatus`` enum has it (a reserved one breaks
  the connection), and its throttle handler is told "throttled" for ESME_RTHROTTLED and
  ESME_RMSGQFUL, the statuses it backs off from;
- Kannel-like: Kannel 1.4's ``smpp_status_to_smscconn_failure_reason`` fails a message for good
  except for ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RX_T_APPN and ESME_RSYSERR, which it retries;
- Jasmin-like: Jasmin's default ``submit_error_retrial`` retries ESME_RSYSERR, ESME_RTHROTTLED,
  ESME_RMSGQFUL and ESME_RINVSCHED, and fails on statuses SMPP 3.4 does not define.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

import pytest
import smpplib.client
import smpplib.consts
from aiosmpplib import BindMode, SmppCommandStatus, SmppMessage
from aiosmpplib.throttle import AbstractThrottleHandler

from smsgate import errors
from smsgate.errors import ResultCode

from .conftest import SIMULATOR_CONFIG, ServerProcess
from .test_smpp_door import PASSWORD, RawSmpp, _unsuccess, bind, submit
from .test_smpp_second_client import bound, submit_sm

SG = "6591234567"
KANNEL_TEMPORARY: Final = frozenset(
    {0x14, 0x58, 0x64, 0x08}
)  # RMSGQFUL RTHROTTLED RX_T_APPN RSYSERR
JASMIN_RETRIED: Final = frozenset({0x08, 0x58, 0x14, 0x61})  # RSYSERR RTHROTTLED RMSGQFUL RINVSCHED


def _server(factory: pytest.TempPathFactory, name: str, default: str) -> ServerProcess:
    config = SIMULATOR_CONFIG + f'\n[server]\nrefresh_s = 0\n[smpp]\nstatus_codes = "{default}"\n'
    proc = ServerProcess(factory.mktemp(name) / "data", config)
    proc.start()
    return proc


@pytest.fixture(scope="module")
def seed_default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = _server(tmp_path_factory, "profiles-seed", "seed")
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def smpp34_default(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = _server(tmp_path_factory, "profiles-34", "smpp34")
    yield proc
    proc.stop()


@pytest.fixture
def clients() -> Iterator[list[smpplib.client.Client]]:
    opened: list[smpplib.client.Client] = []
    yield opened
    for client in opened:
        client.disconnect()


_serial = iter(range(1, 10_000))


def credential(
    server: ServerProcess, profile: str | None, balance: str = "1000"
) -> tuple[str, str]:
    """A new account and system_id with ``profile`` (None: the server's default)."""
    system_id = f"prof{next(_serial)}"
    account = server.create_account(system_id, balance=balance)
    extra = [] if profile is None else ["--status-codes", profile]
    server.cli(
        "smpp", "add", account.account_id, "--system-id", system_id, "--password", PASSWORD,
        *extra,
    )  # fmt: skip
    return account.account_id, system_id


# --- refusals, each set up as a user would --------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """How to make the server refuse a submit with ``row``, and whether waiting helps."""

    row: ResultCode
    smpp34: str
    temporary: bool
    balance: str = "1000"
    to: str = SG
    before: Callable[[ServerProcess, str], None] = lambda server, account_id: None
    sends: int = 1  # the last one is refused


def _daily_quota(server: ServerProcess, account_id: str) -> None:
    server.cli("settings", account_id, "--limits", '{"account_per_day": 1}')


def _gateway_fault(server: ServerProcess, account_id: str) -> None:
    server.cli(
        "faults", "add", "--account", account_id, "--action", "SubmitSm",
        "--code", "isp.GATEWAY_ERROR", "--count", "1",
    )  # fmt: skip


def _suspended(server: ServerProcess, account_id: str) -> None:
    server.cli("accounts", "disable", account_id)


def _abnormal(server: ServerProcess, account_id: str) -> None:
    server.cli("accounts", "set-state", account_id, "abnormal")


REFUSALS: Final = {
    "invalid-number": Refusal(
        errors.MOBILE_NUMBER_ILLEGAL, "ESME_RINVDSTADR", temporary=False, to="12"
    ),
    "daily-quota": Refusal(
        errors.DAY_LIMIT_CONTROL, "ESME_RTHROTTLED", temporary=True, before=_daily_quota, sends=2
    ),
    "balance": Refusal(errors.AMOUNT_NOT_ENOUGH, "ESME_RSUBMITFAIL", temporary=False, balance="0"),
    "gateway-fault": Refusal(
        errors.GATEWAY_ERROR, "ESME_RSYSERR", temporary=True, before=_gateway_fault
    ),
    "suspended": Refusal(
        errors.OUT_OF_SERVICE, "ESME_RSUBMITFAIL", temporary=False, before=_suspended
    ),
    "abnormal": Refusal(
        errors.ACCOUNT_ABNORMAL, "ESME_RINVSYSID", temporary=False, before=_abnormal
    ),
}


def refused_status(
    server: ServerProcess,
    clients: list[smpplib.client.Client],
    refusal: Refusal,
    profile: str | None,
) -> int:
    """Bind with smpplib, set the refusal up, submit; the last submit's command_status."""
    account_id, system_id = credential(server, profile, refusal.balance)
    client = bind(server, clients, system_id)
    refusal.before(server, account_id)
    statuses = [submit(client, refusal.to, b"hello").status for _ in range(refusal.sends)]
    assert statuses[:-1] == [smpplib.consts.SMPP_ESME_ROK] * (refusal.sends - 1)
    return int(statuses[-1])


@pytest.mark.parametrize("case", list(REFUSALS))
def test_smpp34_refusals_are_standard_statuses_that_clients_classify_right(
    seed_default: ServerProcess, clients: list[smpplib.client.Client], case: str
) -> None:
    refusal = REFUSALS[case]
    status = refused_status(seed_default, clients, refusal, "smpp34")

    assert status == SmppCommandStatus[refusal.smpp34]
    assert status in smpplib.consts.DESCRIPTIONS  # smpplib knows it
    assert (status in KANNEL_TEMPORARY) is refusal.temporary
    assert (status in JASMIN_RETRIED) is refusal.temporary


@pytest.mark.parametrize("case", list(REFUSALS))
def test_the_seed_profile_keeps_the_seed_codes(
    seed_default: ServerProcess, clients: list[smpplib.client.Client], case: str
) -> None:
    refusal = REFUSALS[case]
    assert refused_status(seed_default, clients, refusal, None) == refusal.row.smpp_status
    assert refused_status(seed_default, clients, refusal, "seed") == refusal.row.smpp_status


def test_the_seed_codes_are_what_generic_clients_misread(
    seed_default: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    """Why the smpp34 profile exists: 33 is unknown to smpplib, 84 reads as a permanent
    'invalid replace_if_present flag' to every client."""
    invalid = refused_status(seed_default, clients, REFUSALS["invalid-number"], "seed")
    quota = refused_status(seed_default, clients, REFUSALS["daily-quota"], "seed")
    assert invalid not in smpplib.consts.DESCRIPTIONS
    assert quota == smpplib.consts.SMPP_ESME_RINVREPFLAG
    assert quota not in KANNEL_TEMPORARY | JASMIN_RETRIED


def test_the_server_default_applies_to_credentials_that_did_not_choose(
    smpp34_default: ServerProcess, clients: list[smpplib.client.Client]
) -> None:
    refusal = REFUSALS["invalid-number"]
    assert refused_status(smpp34_default, clients, refusal, None) == 0x0B  # ESME_RINVDSTADR
    assert refused_status(smpp34_default, clients, refusal, "seed") == 33
    listed = smpp34_default.cli("smpp", "list")
    assert isinstance(listed, list)
    chosen = sorted(str(entry["status_codes"]) for entry in listed)
    assert chosen == ["None", "seed"]  # stored as chosen; None follows the default


def test_submit_multi_lists_refused_numbers_in_the_profile(seed_default: ServerProcess) -> None:
    _, system_id = credential(seed_default, "smpp34")
    link = RawSmpp(seed_default.smpp_port)
    try:
        link.bind(system_id)
        status, body = link.submit_multi([SG, "12"], [], b"Meeting at 10")
    finally:
        link.close()
    assert status == 0
    assert _unsuccess(body)[1] == [("12", 0x0B)]  # ESME_RINVDSTADR


# --- aiosmpplib: its status enum and its throttle handler ---------------------------------------


def _header_of_refusal(server: ServerProcess, profile: str) -> bytes:
    """The submit_sm_resp header the server sends for an invalid number, as raw bytes."""
    _, system_id = credential(server, profile)
    link = RawSmpp(server.smpp_port)
    try:
        link.bind(system_id)
        body = b"\0" + bytes([5, 0]) + b"Acme\0" + bytes([1, 1]) + b"12\0"
        body += bytes([0, 0, 0]) + b"\0\0" + bytes([0, 0, 0, 0, 5]) + b"hello"
        status, resp_body = link.call(0x00000004, body)
    finally:
        link.close()
    return struct.pack(">IIII", 16 + len(resp_body), 0x80000004, status, link.seq)


def test_aiosmpplib_cannot_parse_the_seed_code_and_parses_the_smpp34_status(
    seed_default: ServerProcess,
) -> None:
    with pytest.raises(ValueError, match="33 is not a valid SmppCommandStatus"):
        SmppMessage.parse_header(_header_of_refusal(seed_default, "seed"))
    header = SmppMessage.parse_header(_header_of_refusal(seed_default, "smpp34"))
    assert header.command_status is SmppCommandStatus.ESME_RINVDSTADR


class CountingThrottle(AbstractThrottleHandler):
    """aiosmpplib's own verdict per submit_sm_resp: throttled (it backs off) or not."""

    def __init__(self) -> None:
        self.verdicts: list[bool] = []

    async def throttled(self) -> None:
        self.verdicts.append(True)

    async def not_throttled(self) -> None:
        self.verdicts.append(False)

    async def allow_request(self) -> bool:
        return True

    async def throttle_delay(self) -> float:
        return 0.0


@pytest.mark.parametrize("case", ["invalid-number", "daily-quota", "gateway-fault", "balance"])
async def test_aiosmpplib_backs_off_from_smpp34_throttles_only(
    seed_default: ServerProcess, case: str
) -> None:
    refusal = REFUSALS[case]
    account_id, system_id = credential(seed_default, "smpp34", refusal.balance)
    await asyncio.to_thread(refusal.before, seed_default, account_id)
    throttle = CountingThrottle()
    async with bound(
        seed_default, system_id, BindMode.TRANSCEIVER, throttle_handler=throttle
    ) as client:
        answers = [
            (await client.submit(submit_sm(refusal.to, short_message="hello")))[0]
            for _ in range(refusal.sends)
        ]
    assert [a.status for a in answers[:-1]] == [SmppCommandStatus.ESME_ROK] * (refusal.sends - 1)
    assert SmppCommandStatus(answers[-1].status) is SmppCommandStatus[refusal.smpp34]
    backs_off = refusal.row in (
        errors.DAY_LIMIT_CONTROL,
    )  # RSYSERR is Kannel's retry, not a throttle
    assert throttle.verdicts == [False] * (refusal.sends - 1) + [backs_off]
