"""The SMPP status profiles: the catalog's smpp34 table, the door's rendering of refusals, the
credential's choice and the configuration default, and the README's table of both profiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import smpplib.consts

from smsgate import errors
from smsgate.config import ConfigError, load_config
from smsgate.doors.smpp.fields import Refused
from smsgate.doors.smpp.statuses import PROFILES, SEED, SMPP34, status_of
from smsgate.errors import OverloadedError, SmsError
from smsgate.service.smpp_accounts import hash_password, parse_smpp_document
from smsgate.smpp.constants import CommandStatus

README = Path(__file__).resolve().parents[3] / "README.md"

THROTTLES = {
    errors.BUSINESS_LIMIT_CONTROL_MINUTE,
    errors.BUSINESS_LIMIT_HOUR,
    errors.BUSINESS_LIMIT_DAY,
    errors.BUSINESS_LIMIT_CONTROL_PHONE,
    errors.SYSTEM_LIMIT_CONTROL,
    errors.DAY_LIMIT_CONTROL,
    errors.MONTH_LIMIT_CONTROL,
}
OUR_FAULTS = {errors.SYSTEM_ERROR_ACCESS_LAYER, errors.SYSTEM_ERROR, errors.GATEWAY_ERROR}
#: What Kannel and Jasmin retry later; every other status fails the message for good.
RETRIED = {CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL, CommandStatus.ESME_RSYSERR}


# --- the catalog's table ----------------------------------------------------------------------


def test_every_seed_row_has_an_smpp34_status() -> None:
    assert list(errors.SMPP34_STATUS) == list(errors.SEED_ROWS)


@pytest.mark.parametrize("row", errors.SEED_ROWS, ids=lambda r: f"{r.code}/{r.smpp_status}")
def test_each_smpp34_status_is_defined_by_smpp_3_4(row: errors.ResultCode) -> None:
    """A name of CommandStatus (the §5.1.3 table), whose value smpplib's own table of SMPP 3.4
    statuses also has: neither reserved nor vendor-specific."""
    name = errors.SMPP34_STATUS[row]
    status = CommandStatus[name]
    assert status.value in smpplib.consts.DESCRIPTIONS
    assert SMPP34[row] == status.value


def test_command_status_lists_exactly_the_statuses_smpp_3_4_defines() -> None:
    assert {s.value for s in CommandStatus} == set(smpplib.consts.DESCRIPTIONS)


def test_only_throttles_quotas_and_our_faults_are_retried_later() -> None:
    retried = {row for row in errors.SEED_ROWS if SMPP34[row] in RETRIED}
    assert retried == THROTTLES | OUR_FAULTS
    assert {SMPP34[row] for row in THROTTLES} == {CommandStatus.ESME_RTHROTTLED}
    assert {SMPP34[row] for row in OUR_FAULTS} == {CommandStatus.ESME_RSYSERR}


@pytest.mark.parametrize(
    ("row", "status"),
    [
        (errors.OK, CommandStatus.ESME_ROK),
        (errors.MOBILE_NUMBER_ILLEGAL, CommandStatus.ESME_RINVDSTADR),
        (errors.NOT_SUPPORTED_COUNTRY, CommandStatus.ESME_RINVDSTADR),
        (errors.SENDERID_ERROR, CommandStatus.ESME_RINVSRCADR),
        (errors.SMS_SIGN_NAME_ILLEGAL, CommandStatus.ESME_RINVSRCADR),
        (errors.AMOUNT_NOT_ENOUGH, CommandStatus.ESME_RSUBMITFAIL),
        (errors.ACCOUNT_NOT_EXISTS, CommandStatus.ESME_RINVSYSID),
        (errors.DATA_NOT_EXIST, CommandStatus.ESME_RINVMSGID),
        (errors.BLACK_KEY_CONTROL_LIMIT, CommandStatus.ESME_RSUBMITFAIL),
    ],
)
def test_permanent_refusals_name_what_is_wrong(
    row: errors.ResultCode, status: CommandStatus
) -> None:
    assert SMPP34[row] == status


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("row", errors.SEED_ROWS, ids=lambda r: f"{r.code}/{r.smpp_status}")
def test_a_refusal_reads_in_the_binds_profile(row: errors.ResultCode) -> None:
    refusal = SmsError(row)
    assert status_of(refusal) == status_of(refusal, SEED) == row.smpp_status
    assert status_of(refusal, PROFILES["smpp34"]) == CommandStatus[errors.SMPP34_STATUS[row]]


def test_protocol_faults_and_a_full_queue_read_the_same_in_both_profiles() -> None:
    for profile in PROFILES.values():
        assert status_of(Refused(CommandStatus.ESME_RINVEXPIRY), profile) == 0x62
        assert status_of(OverloadedError(), profile) == CommandStatus.ESME_RMSGQFUL
        assert status_of(RuntimeError("bug"), profile) == CommandStatus.ESME_RSYSERR


@pytest.mark.parametrize("name", errors.SMPP_STATUS_PROFILES)
def test_a_full_queue_reads_as_its_catalog_entry_names_it(name: errors.SmppStatusProfile) -> None:
    expected = CommandStatus[errors.OVERLOADED.smpp_status[name]]
    assert status_of(OverloadedError("the queue is full"), PROFILES[name]) == expected


# --- the credential's choice and the default ----------------------------------------------------


def _entry(**extra: str) -> dict[str, str]:
    return {"account_id": "acc-1", "password_hash": HASH, **extra}


HASH = hash_password("s3cret")


def test_a_credential_may_choose_its_profile() -> None:
    parsed = parse_smpp_document(
        {
            "plain": _entry(),
            "seed": _entry(status_codes="seed"),
            "std": _entry(status_codes="smpp34"),
        }
    )
    assert [parsed[s].status_codes for s in ("plain", "seed", "std")] == [None, "seed", "smpp34"]


@pytest.mark.parametrize("value", ["kannel", "", 34, None])
def test_an_unknown_profile_is_refused(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"smpp\['std'\]\.status_codes must be one of seed, smpp34"
    ):
        parse_smpp_document({"std": {**_entry(), "status_codes": value}})


def test_other_keys_are_still_refused() -> None:
    with pytest.raises(ValueError, match="may have status_codes"):
        parse_smpp_document({"x": _entry(colour="blue")})


def test_the_configured_default(tmp_path: Path) -> None:
    assert load_config().smpp.status_codes == "seed"
    path = tmp_path / "smsgate.toml"
    path.write_text('[smpp]\nstatus_codes = "smpp34"\n')
    assert load_config(path).smpp.status_codes == "smpp34"
    path.write_text('[smpp]\nstatus_codes = "3.4"\n')
    with pytest.raises(ConfigError, match=r"\[smpp\] status_codes must be one of 'seed', 'smpp34'"):
        load_config(path)


# --- the README -----------------------------------------------------------------------------------

_ROW = re.compile(r"\| `([^`]+)` \| (\d+) \| `(ESME_\w+)` \(0x([0-9A-F]{2})\) \| ([a-z ]+) \|")


def test_the_readme_shows_both_profiles_of_every_row() -> None:
    text = README.read_text()
    section = text[text.index("### Status codes") : text.index("### Delivery receipts")]
    shown = [m.groups() for m in _ROW.finditer(section)]
    expected = [
        (
            row.code,
            str(row.smpp_status),
            errors.SMPP34_STATUS[row],
            f"{SMPP34[row]:02X}",
            "retry later" if SMPP34[row] in RETRIED else "fail the message",
        )
        for row in errors.SEED_ROWS
        if row is not errors.OK
    ]
    assert shown == expected
