"""Keyword control: normalisation, the Aho-Corasick matcher against a naive oracle, refusals."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from smsgate import errors
from smsgate.domain.keywords import (
    _IGNORABLE_ASTRAL,
    _IGNORABLE_BMP,
    KeywordMatcher,
    check_text,
    normalise,
)
from smsgate.errors import SmsError

# Characters whose normalised forms never interact with their neighbours (no combining marks, no
# conjoining Hangul jamo, no half-width voiced sound marks), so inserting a keyword anywhere keeps
# it whole after normalisation. They still exercise every folding the matcher does: case, width,
# ligatures, compatibility digits, ß, final sigma, Turkish i, default-ignorables, non-BMP.
PLAIN = list(
    "abcxyzABCXYZ019 -.!"
    "中奖免费点击链接"
    "ＦＲＥＥｆｒｅｅ０１\u3000"
    "ﬁﬂﬀ①②²㎏ｶﾅ"
    "ßẞΣσςİıIi"
    "😀𝐀𝔉"
    "\u200b\u00ad\ufe0f\u2060"
)
plain_text = st.text(alphabet=PLAIN, max_size=60)
plain_keyword = st.text(alphabet=PLAIN, min_size=1, max_size=8).filter(
    lambda keyword: normalise(keyword).strip() != ""
)
any_keyword = st.text(min_size=1, max_size=8).filter(
    lambda keyword: normalise(keyword).strip() != ""
)
keyword_lists = st.lists(st.one_of(plain_keyword, any_keyword), min_size=1, max_size=30)


def distinct(keywords: list[str]) -> dict[str, str]:
    """Normalised form -> first spelling, as the matcher keeps them."""
    forms: dict[str, str] = {}
    for keyword in keywords:
        forms.setdefault(normalise(keyword), keyword)
    return forms


def oracle(keywords: list[str], text: str) -> list[str]:
    """What ``find_all`` must answer, by plain ``str.find`` on the normalised strings: keywords
    ordered by where their first occurrence ends, longest first on a tie."""
    haystack = normalise(text)
    ends = []
    for form, keyword in distinct(keywords).items():
        start = haystack.find(form)
        if start >= 0:
            ends.append((start + len(form), -len(form), keyword))
    return [keyword for _, _, keyword in sorted(ends)]


# --- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("FREE", "free"),
        ("ＦＲＥＥ", "free"),  # full-width forms
        ("ＦｒＥｅ　ＧＩＦＴ", "free gift"),  # ideographic space is a space
        ("ﬁnal", "final"),  # ligature
        ("Straße", "strasse"),
        ("STRAẞE", "strasse"),
        ("ΣΟΦΟΣ σοφος", "σοφοσ σοφοσ"),  # final sigma folds to sigma
        ("①②³", "123"),
        ("ｶﾞｲﾄﾞ", "ガイド"),  # half-width katakana and its voiced sound mark compose
        ("㎏", "kg"),
        ("fr\u200bee", "free"),  # zero-width space
        ("fr\u00adee", "free"),  # soft hyphen
        ("❤\ufe0f", "❤"),  # emoji variation selector
        ("🏴\U000e0067\U000e0062\U000e007f x", "🏴 x"),  # tag characters (astral)
        ("fr\U000e0020ee", "free"),
        ("e\u0301", "é"),  # composed
        ("中奖", "中奖"),
        ("𝐅𝐑𝐄𝐄", "free"),  # mathematical bold
        ("", ""),
    ],
)
def test_normalise(text: str, normalised: str) -> None:
    assert normalise(text) == normalised


def test_turkish_i_uses_default_folding() -> None:
    """Documented behaviour: no Turkic folding, as the language of a text is not known."""
    assert normalise("I") == "i"
    assert normalise("İ") == "i\u0307"  # capital I with dot: i + COMBINING DOT ABOVE
    assert normalise("ı") == "ı"  # dotless i stays dotless
    matcher = KeywordMatcher(["istanbul", "ışık"])
    assert matcher.find("ISTANBUL") == "istanbul"
    assert matcher.find("İSTANBUL") is None
    assert matcher.find("IŞIK") is None  # folds to "işik"
    assert matcher.find("ışık") == "ışık"
    assert KeywordMatcher(["İstanbul"]).find("İSTANBUL") == "İstanbul"


@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


@given(st.text(alphabet=st.characters(codec="ascii")))
def test_ascii_fast_path_is_the_general_rule(text: str) -> None:
    assert normalise(text) == unicodedata.normalize("NFKC", text.casefold())


def test_ignorables_are_the_unicode_property() -> None:
    """``DerivedCoreProperties.txt``: "Total code points: 4174" for Default_Ignorable_Code_Point."""
    ignorable = [
        code
        for code in range(sys.maxunicode + 1)
        if _IGNORABLE_BMP.match(chr(code)) or _IGNORABLE_ASTRAL.match(chr(code))
    ]
    assert len(ignorable) == 4174
    assert {0x00AD, 0x200B, 0x200D, 0xFE0F, 0xFEFF, 0xE0001, 0xE0FFF} <= set(ignorable)
    assert not {0x0020, 0x00A0, 0x3000, 0x200A, 0x2028, 0xFFFD} & set(ignorable)


def test_no_character_normalises_into_an_ignorable() -> None:
    """Backs the module's claim that dropping default-ignorables first is enough."""
    leaking = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if _IGNORABLE_BMP.search(form := normalise(chr(code))) or _IGNORABLE_ASTRAL.search(form)
    ]
    assert leaking == []


# --- matching: fixed cases ----------------------------------------------------------------------


def test_case_width_and_compatibility_variants_are_found() -> None:
    matcher = KeywordMatcher(["free gift", "中奖", "fi"])
    assert matcher.find("Claim your FREE GIFT today") == "free gift"
    assert matcher.find("Claim your ＦＲＥＥ　ＧＩＦＴ today") == "free gift"
    assert matcher.find("恭喜您中奖了") == "中奖"
    assert matcher.find("ﬁ") == "fi"
    assert matcher.find("free  gift") is None  # spacing is not folded


def test_keyword_is_reported_as_configured() -> None:
    matcher = KeywordMatcher(["ＦＲＥＥ"])
    assert matcher.find("free") == "ＦＲＥＥ"


def test_keywords_with_one_form_are_one_entry() -> None:
    matcher = KeywordMatcher(["FREE", "free", "ＦＲＥＥ", "spam"])
    assert len(matcher) == 2
    assert matcher.find_all("free spam") == ["FREE", "spam"]


def test_first_match_is_the_one_ending_first_then_the_longest() -> None:
    matcher = KeywordMatcher(["gift", "ree", "free", "e"])
    assert matcher.find("free gift") == "e"  # "fre|e": ends at 3, before "free" (ends at 4)
    assert matcher.find_all("free gift") == ["e", "free", "ree", "gift"]
    assert KeywordMatcher(["ree", "free"]).find("a free gift") == "free"


def test_substrings_overlaps_and_repeats() -> None:
    matcher = KeywordMatcher(["he", "she", "his", "hers"])
    assert matcher.find_all("ushers") == ["she", "he", "hers"]
    assert matcher.find_all("hehehe") == ["he"]


def test_keywords_inside_words_and_with_spaces() -> None:
    matcher = KeywordMatcher(["spam", " win "])
    assert matcher.find("spammer") == "spam"
    assert matcher.find("you win big") == " win "
    assert matcher.find("winner") is None


def test_invisible_characters_do_not_hide_a_keyword() -> None:
    matcher = KeywordMatcher(["free"])
    assert matcher.find("f\u200br\u200de\u2060e") == "free"
    assert KeywordMatcher(["fr\u00adee"]).find("FREE") == "fr\u00adee"


def test_a_combining_mark_after_the_keyword_changes_the_letter() -> None:
    """Documented limit: ``e`` + COMBINING ACUTE is ``é``, like the precomposed letter."""
    matcher = KeywordMatcher(["cafe"])
    assert matcher.find("cafe\u0301") is None
    assert matcher.find("café") is None
    assert KeywordMatcher(["café"]).find("CAFE\u0301") == "café"


def test_non_bmp_keywords() -> None:
    matcher = KeywordMatcher(["😀😀", "𝔉ree"])
    assert matcher.find("x😀😀y") == "😀😀"
    assert matcher.find("x😀y😀") is None
    assert matcher.find("FREE") == "𝔉ree"


def test_lone_surrogates_in_text_do_not_raise() -> None:
    matcher = KeywordMatcher(["free"])
    assert matcher.find("\ud83d free") == "free"
    assert matcher.find("\udc00") is None


def test_empty_list_matches_nothing() -> None:
    matcher = KeywordMatcher([])
    assert len(matcher) == 0
    assert matcher.find("anything") is None
    assert matcher.find_all("anything") == []


def test_empty_text() -> None:
    matcher = KeywordMatcher(["a"])
    assert matcher.find("") is None
    assert matcher.find_all("") == []


@pytest.mark.parametrize("bad", ["", " ", "\t\n", "\u3000", "\u200b", " \u00ad \ufe0f "])
def test_empty_and_blank_keywords_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"keyword #1 .* empty or only white space"):
        KeywordMatcher(["ok", bad])


def test_keywords_can_be_any_iterable() -> None:
    matcher = KeywordMatcher(keyword for keyword in ("a", "b"))
    assert len(matcher) == 2


def test_ten_thousand_keywords() -> None:
    keywords = [f"blocked{number}word" for number in range(10_000)]
    matcher = KeywordMatcher(keywords)
    assert len(matcher) == 10_000
    text = "x" * 500 + "BLOCKED9999WORD" + "y" * 500
    assert matcher.find(text) == "blocked9999word"
    assert matcher.find("blocked word " * 80) is None


# --- matching: properties -----------------------------------------------------------------------


@given(st.lists(plain_keyword, min_size=1, max_size=20), st.data())
def test_a_keyword_inserted_anywhere_is_found(keywords: list[str], data: st.DataObject) -> None:
    keyword = data.draw(st.sampled_from(keywords))
    before, after = data.draw(plain_text), data.draw(plain_text)
    matcher = KeywordMatcher(keywords)
    text = before + keyword + after
    found = matcher.find_all(text)
    assert distinct(keywords)[normalise(keyword)] in found
    assert matcher.find(text) is not None


@given(keyword_lists, st.data())
def test_any_keyword_inserted_anywhere_is_found(keywords: list[str], data: st.DataObject) -> None:
    """Any Unicode at all, where the text around the keyword does not combine with its edges
    (module docstring: a combining mark after a keyword changes its last letter)."""
    keyword = data.draw(st.sampled_from(keywords))
    before, after = data.draw(st.text(max_size=30)), data.draw(st.text(max_size=30))
    assume(normalise(keyword) in normalise(before + keyword + after))
    text = before + keyword + after
    assert distinct(keywords)[normalise(keyword)] in KeywordMatcher(keywords).find_all(text)


@given(keyword_lists, st.one_of(plain_text, st.text(max_size=60)), st.data())
def test_matcher_agrees_with_the_naive_oracle(
    keywords: list[str], text: str, data: st.DataObject
) -> None:
    if data.draw(st.booleans()):  # half the time, make sure something is there to find
        keyword = data.draw(st.sampled_from(keywords))
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] + keyword + text[cut:]
    matcher = KeywordMatcher(keywords)
    expected = oracle(keywords, text)
    assert matcher.find_all(text) == expected
    assert matcher.find(text) == (expected[0] if expected else None)


@given(
    st.lists(st.text(alphabet="abc中奖ＦＲ", min_size=1, max_size=6), min_size=1, max_size=30),
    st.text(alphabet="xyz 0123456789.,!?我们ＸＹＺ\u200b", max_size=200),
)
def test_texts_without_any_keyword_are_clean(keywords: list[str], text: str) -> None:
    matcher = KeywordMatcher(keywords)
    assert matcher.find(text) is None
    assert matcher.find_all(text) == []


@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
    st.data(),
)
def test_case_and_width_variants_are_found(keyword: str, data: st.DataObject) -> None:
    def variant(char: str) -> str:
        char = data.draw(st.sampled_from([char, char.upper()]))
        return chr(ord(char) + 0xFEE0) if data.draw(st.booleans()) else char  # full-width

    text = "Hi! " + "".join(map(variant, keyword)) + " bye"
    assert KeywordMatcher([keyword]).find(text) == keyword


@given(keyword_lists)
def test_length_counts_distinct_forms(keywords: list[str]) -> None:
    assert len(KeywordMatcher(keywords)) == len(distinct(keywords))


# --- check_text ---------------------------------------------------------------------------------


def test_check_text_passes_clean_text() -> None:
    check_text(KeywordMatcher(["free"]), "Your code is 123456")


def test_check_text_raises_the_catalog_error_without_the_text() -> None:
    matcher = KeywordMatcher(["中奖"])
    text = "恭喜您中奖了 " + "secret customer content " * 40
    with pytest.raises(SmsError) as caught:
        check_text(matcher, text)
    assert caught.value.result is errors.BLACK_KEY_CONTROL_LIMIT
    assert caught.value.detail == "blocked keyword '中奖'"
    assert "secret" not in str(caught.value)


def test_check_text_cuts_a_long_keyword() -> None:
    keyword = "k" * 100
    with pytest.raises(SmsError) as caught:
        check_text(KeywordMatcher([keyword]), keyword)
    detail = caught.value.detail
    assert detail is not None
    assert detail == "blocked keyword '" + "k" * 31 + "…'"
