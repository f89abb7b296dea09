"""The README's gateway error table is the catalog's, and every ``Recommend`` lands on its row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsgate import errors
from smsgate.doors.aliyun import render
from smsgate.errors import GatewayCode

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r'^\| <a id="([^"]+)"></a>`([^`]+)` \| (\d{3}) \| ([^|]+) \| ([^|]+) \|$')


def readme_rows() -> dict[str, tuple[str, int, str, str]]:
    """Code -> (anchor, HTTP status, message, when) from the "Gateway errors" table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Gateway errors\n", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            anchor, code, status, message, when = match.groups()
            rows[code] = (anchor, int(status), message.strip(), when.strip())
    return rows


def test_the_readme_table_lists_every_gateway_code_in_catalog_order() -> None:
    assert list(readme_rows()) == [c.code for c in errors.GATEWAY_CODES]


@pytest.mark.parametrize("code", errors.GATEWAY_CODES, ids=lambda c: c.code)
def test_each_row_has_the_catalogs_status_and_message(code: GatewayCode) -> None:
    anchor, status, message, when = readme_rows()[code.code]
    assert status == code.http_status
    if code is errors.MISSING_PARAMETER:  # Alibaba's sentence names the parameter
        assert message == errors.missing_parameter("To").message
    else:
        assert message == code.message
    assert anchor == render.readme_anchor(code)
    assert when


@pytest.mark.parametrize("code", errors.GATEWAY_CODES, ids=lambda c: c.code)
def test_recommend_points_at_the_codes_row_of_the_readme(code: GatewayCode) -> None:
    body = render.error_body("RID", "127.0.0.1:8080", code, code.message)

    page, _, anchor = body["Recommend"].partition("#")
    assert page == render.README_URL
    assert f'<a id="{anchor}"></a>`{code.code}`' in README.read_text(encoding="utf-8")


def test_anchors_are_unique() -> None:
    anchors = [render.readme_anchor(c) for c in errors.GATEWAY_CODES]
    assert len(set(anchors)) == len(anchors)


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        # Alibaba's words, as quoted in the sources cited in errors.py.
        (errors.MISSING_SIGNATURE, 400, "Signature is mandatory for this action."),
        (errors.MISSING_ACCESS_KEY_ID, 400, "AccessKeyId is mandatory for this action."),
        (errors.MISSING_TIMESTAMP, 400, "Timestamp is mandatory for this action."),
        (errors.INVALID_ACCESS_KEY_ID_NOT_FOUND, 404, "Specified access key is not found."),
        (errors.INVALID_ACCESS_KEY_ID_INACTIVE, 400, "Specified access key is disabled."),
        (
            errors.SIGNATURE_DOES_NOT_MATCH,
            400,
            "Specified signature is not matched with our calculation.",
        ),
        (
            errors.INCOMPLETE_SIGNATURE,
            400,
            "The request signature does not conform to Aliyun standards.",
        ),
        (errors.SIGNATURE_NONCE_USED, 400, "Specified signature nonce was used already."),
        (errors.INVALID_TIMESTAMP_EXPIRED, 400, "Specified time stamp or date value is expired."),
        (errors.INVALID_VERSION, 400, "Specified parameter Version is not valid."),
        (
            errors.INVALID_ACTION_NOT_FOUND,
            404,
            "Specified api is not found, please check your url and method.",
        ),
        (errors.THROTTLING, 429, "Request was denied due to flow control."),
    ],
    ids=lambda v: v.code if isinstance(v, GatewayCode) else "",
)
def test_codes_alibaba_documents_are_worded_as_alibaba_words_them(
    code: GatewayCode, status: int, message: str
) -> None:
    assert (code.http_status, code.message) == (status, message)


def test_missing_parameter_names_the_parameter_as_alibaba_does() -> None:
    error = errors.missing_parameter("ResourceType")
    assert error.gateway_code is errors.MISSING_PARAMETER
    assert error.message == (
        'The input parameter "ResourceType" that is mandatory for processing this request is not '
        "supplied."
    )


def test_a_detail_follows_alibabas_sentence() -> None:
    error = errors.GatewayError(errors.INCOMPLETE_SIGNATURE, "SignedHeaders must include host.")
    assert error.message == (
        "The request signature does not conform to Aliyun standards. SignedHeaders must include "
        "host."
    )
    assert error.detail == "SignedHeaders must include host."
