"""Templates: variables, TemplateParam JSON, rendering."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import errors
from smsgate.domain.templates import parse_template_param, render, template_variables
from smsgate.errors import SmsError

OTP = "Your ${product} code is ${code}. It expires in ${minutes} minutes."


def refused(call: Callable[..., object], *args: object, **kwargs: object) -> SmsError:
    with pytest.raises(SmsError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- template_variables ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (OTP, ("product", "code", "minutes")),
        ("no variables", ()),
        ("", ()),
        ("${a}${b}${a}", ("a", "b")),  # each once, in order of first appearance
        ("${order_id} ${Code2} ${9}", ("order_id", "Code2", "9")),
        ("$code {code} ${} ${a-b} ${ a } $${x}", ("x",)),  # only well-formed names
        ("${a${b}}", ("b",)),
    ],
)
def test_template_variables(content: str, names: tuple[str, ...]) -> None:
    assert template_variables(content) == names


# --- parse_template_param -------------------------------------------------------------------


def test_param_strings() -> None:
    assert parse_template_param('{"code": "123456", "name": "Ana"}') == {
        "code": "123456",
        "name": "Ana",
    }


def test_param_numbers_keep_their_json_spelling() -> None:
    raw = '{"code": 123456, "amount": 1.50, "big": 12345678901234567890123, "exp": 1e3}'
    assert parse_template_param(raw) == {
        "code": "123456",
        "amount": "1.50",
        "big": "12345678901234567890123",
        "exp": "1e3",
    }


def test_param_booleans_are_json_words() -> None:
    assert parse_template_param('{"a": true, "b": false}') == {"a": "true", "b": "false"}


def test_param_null_is_not_given() -> None:
    assert parse_template_param('{"code": null, "x": "1"}') == {"x": "1"}


def test_param_unicode_escapes() -> None:
    assert parse_template_param('{"name": "\\u738b"}') == {"name": "王"}


@pytest.mark.parametrize("raw", [None, ""])
def test_absent_param_is_empty(raw: str | None) -> None:
    assert parse_template_param(raw) == {}


def test_empty_object() -> None:
    assert parse_template_param("{}") == {}


@pytest.mark.parametrize(
    "raw",
    [
        "{code: 1}",
        "{'code': '1'}",
        '{"code": "1"',
        "   ",
        "null",
        "[]",
        '["1", "2"]',
        "123",
        '"text"',
        "true",
        '{"code": NaN}',
        '{"code": Infinity}',
        '{"code": -Infinity}',
        '{"code": {"nested": "1"}}',
        '{"code": ["1"]}',
        "[" * 100_000,
    ],
)
def test_invalid_params(raw: str) -> None:
    error = refused(parse_template_param, raw)
    assert error.result is errors.INVALID_JSON_PARAM


def test_nested_value_names_the_variable() -> None:
    error = refused(parse_template_param, '{"code": {"a": 1}}')
    assert "'code'" in str(error)
    assert "object" in str(error)


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=20) | st.integers(), max_size=8))
def test_param_round_trip(values: dict[str, str | int]) -> None:
    assert parse_template_param(json.dumps(values)) == {k: str(v) for k, v in values.items()}


# --- render ---------------------------------------------------------------------------------


def test_render_fills_every_variable() -> None:
    params = {"product": "Acme", "code": "123456", "minutes": "5"}
    assert render(OTP, params) == "Your Acme code is 123456. It expires in 5 minutes."


def test_render_repeats_a_variable() -> None:
    assert render("${a}-${a}", {"a": "x"}) == "x-x"


def test_render_without_variables() -> None:
    assert render("plain text", {}) == "plain text"
    assert render("", {"a": "1"}) == ""


def test_render_ignores_extra_params() -> None:
    assert render("hi ${name}", {"name": "Ana", "unused": "x"}) == "hi Ana"


def test_render_leaves_malformed_placeholders() -> None:
    assert render("${a} costs $5 {b} ${ c }", {"a": "it"}) == "it costs $5 {b} ${ c }"


def test_values_are_not_expanded_again() -> None:
    assert render("${a} ${b}", {"a": "${b}", "b": "x"}) == "${b} x"


def test_values_with_regex_metacharacters_are_verbatim() -> None:
    assert render("${a}", {"a": r"\1 \g<0> $&"}) == r"\1 \g<0> $&"


def test_missing_variable() -> None:
    error = refused(render, OTP, {"product": "Acme", "minutes": "5"})
    assert error.result is errors.CONTENT_MISSING_PARAMETERS
    assert str(error) == "variable 'code' is missing"


@pytest.mark.parametrize("value", ["", " ", "\t\n"])
def test_empty_variable(value: str) -> None:
    error = refused(render, "code ${code}", {"code": value})
    assert error.result is errors.CONTENT_MISSING_PARAMETERS
    assert str(error) == "variable 'code' is empty"


def test_first_offending_variable_in_template_order() -> None:
    error = refused(render, OTP, {})
    assert str(error) == "variable 'product' is missing"


def test_value_length_limit() -> None:
    assert render("${code}", {"code": "x" * 6}, max_value_length=6) == "xxxxxx"
    error = refused(render, "${code}", {"code": "x" * 7}, max_value_length=6)
    assert error.result is errors.PARAM_LENGTH_LIMIT
    assert "'code'" in str(error)


def test_length_counts_characters_not_bytes() -> None:
    assert render("${name}", {"name": "王小明"}, max_value_length=3) == "王小明"


def test_length_limit_only_applies_to_used_variables() -> None:
    assert render("${a}", {"a": "1", "extra": "x" * 100}, max_value_length=5) == "1"


def test_parse_then_render() -> None:
    params = parse_template_param('{"product": "Acme", "code": 123456, "minutes": 5}')
    assert render(OTP, params) == "Your Acme code is 123456. It expires in 5 minutes."


# Literal text may spell ${a} and ${b} (and broken placeholders), but no other variable name.
literal_text = st.lists(st.sampled_from(["$", "{", "}", " ", "-", "${a}", "${b}"]), max_size=8).map(
    "".join
)


@given(
    st.lists(literal_text, max_size=6),
    st.lists(st.text(alphabet="xyz${}", min_size=1, max_size=5), min_size=8, max_size=8),
)
def test_render_matches_a_naive_substitution(literals: list[str], values: list[str]) -> None:
    """Rendering equals replacing every placeholder of the original text at once; literals can
    spell placeholders ``${a}``/``${b}`` themselves, values can spell any."""
    names = [f"v{i}" for i in range(len(literals))]
    content = "".join(lit + "${" + name + "}" for lit, name in zip(literals, names, strict=True))
    params = dict(zip(["a", "b", *names], values, strict=False))
    expected = content
    for name in params:  # mark first, so that inserted values are never matched
        expected = expected.replace("${" + name + "}", "\x01" + name + "\x02")
    for name, value in params.items():
        expected = expected.replace("\x01" + name + "\x02", value)
    assert render(content, params) == expected
