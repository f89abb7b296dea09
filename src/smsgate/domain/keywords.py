"""Keyword control: refuse a text that contains a blocked keyword (``isv.BLACK_KEY_CONTROL_LIMIT``).

A :class:`KeywordMatcher` is built once from the configured keywords (tens of thousands are
fine) and then answers, in one pass over the text, whether any of them occurs. Keywords and texts
are compared after :func:`normalise`, so that the forms a spammer (or an ordinary phone keyboard)
may produce are found alike:

- **Compatibility forms** (Unicode normalisation form NFKC, UAX #15): full-width ``ＦＲＥＥ``
  and half-width katakana ``ｶ``, ligatures ``ﬁ``, circled and superscript digits ``①²``,
  ``㎏``... all become their plain forms.
- **Case** (full case folding, ``str.casefold``; The Unicode Standard §3.13 and
  ``CaseFolding.txt``): ``FREE``, ``Free`` and ``free`` are one; ``ß``/``ẞ`` fold to ``ss``,
  final sigma ``ς`` to ``σ``.
- **Default-ignorable code points** are dropped (``Default_Ignorable_Code_Point``,
  ``DerivedCoreProperties.txt``): zero-width space and joiners, soft hyphen, bidi controls,
  variation selectors, tags. They do not show on a handset, so ``fr\\u200bee`` is ``free``.

Together this is the Unicode *NFKC_Casefold* mapping (§3.13, ``DerivedNormalizationProps.txt``),
computed as ``NFKC(casefold(NFKC(drop_ignorables(text))))``; the outer NFKC recomposes what case
folding decomposes (``ΐ``), which makes :func:`normalise` idempotent.

What is *not* folded:

- **Turkish dotted and dotless i.** Case folding uses the default (non-Turkic) mappings:
  ``I`` folds to ``i``; ``İ`` (U+0130) folds to ``i`` followed by U+0307 COMBINING DOT ABOVE;
  ``ı`` (U+0131) stays ``ı``. So the keyword ``istanbul`` does not match ``İSTANBUL``
  (``i̇stanbul``), and the keyword ``ışık`` does not match ``IŞIK`` (``işik``). Turkic folding
  depends on the language of the text, which is not known here: configure both spellings.
- **Look-alikes** from other scripts (Cyrillic ``а`` for Latin ``a``; UTS #39 confusables),
  accents (``café`` is not ``cafe``), spacing (``f r e e``) and other evasions beyond Unicode's
  own equivalences.
- **Matches across a combining boundary.** Normalisation composes a letter with the combining
  marks that follow it, so a keyword ending in ``e`` does not match text where that ``e`` carries
  an accent written as a separate mark (``e`` + U+0301 composes to ``é``). This is the same
  answer as for the precomposed ``é``, which is the point of normalising.

The automaton (Aho-Corasick, 1975) is the Rust ``aho-corasick`` crate through ``ahocorasick_rs``,
run over the UTF-8 bytes of the normalised text. UTF-8 is self-synchronising (RFC 3629 §3: lead
and continuation octets are distinct), so the bytes of a keyword occur in the bytes of a text
exactly where the keyword occurs in the text. Matching is linear in the text whatever the number
of keywords; ``bench/keywords_bench.py`` measures it (and the alternatives it was chosen over).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from ahocorasick_rs import BytesAhoCorasick

from smsgate import errors
from smsgate.errors import SmsError

__all__ = ["KeywordMatcher", "check_text", "normalise"]

#: ``Default_Ignorable_Code_Point`` (Unicode 15.1 ``DerivedCoreProperties.txt``), which the
#: NFKC_Casefold mapping removes. No character normalises or folds into one of these (checked over
#: every code point by the tests), so removing them first is enough. The astral ones have their
#: own pattern: ``re`` tests every range of a class at every character, and a text without
#: astral characters cannot hold them (half the cost of ``normalise`` for a Chinese text).
_IGNORABLE_BMP: Final = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8]"
)
_IGNORABLE_ASTRAL: Final = re.compile(
    "[\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
#: Longest keyword shown in an error detail; longer ones are cut with an ellipsis.
_SHOWN_KEYWORD_CHARS: Final = 32


def normalise(text: str) -> str:
    """The NFKC_Casefold form of ``text`` (The Unicode Standard §3.13), which keywords and texts
    are compared in; see the module documentation for what it folds and what it does not.

    Lone surrogates pass through unchanged (they have no normalisation and no case).
    """
    if text.isascii():  # O(1) in CPython; NFKC leaves ASCII alone and casefold is lower
        return text.lower()
    text = _IGNORABLE_BMP.sub("", text)
    if len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text):  # astral characters
        text = _IGNORABLE_ASTRAL.sub("", text)
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


class KeywordMatcher:
    """Blocked keywords, compiled once into an Aho-Corasick automaton.

    ``keywords`` are matched as substrings of the text after :func:`normalise` (no word
    boundaries: ``spam`` is found in ``spammer``; a keyword may include spaces to require them).
    Keywords with the same normalised form are one entry (the first spelling is kept and
    reported), so ``len()`` counts distinct keywords. An empty keyword, or one that is only
    white space or invisible characters once normalised, is refused with ``ValueError``: it would
    match every text.

    The matcher is immutable and safe to share between threads and tasks; building 10,000
    keywords takes a few tens of milliseconds, so rebuild it when the list changes.
    """

    __slots__ = ("_automaton", "_keywords")

    def __init__(self, keywords: Iterable[str]) -> None:
        by_form: dict[bytes, str] = {}
        for position, keyword in enumerate(keywords):
            form = normalise(keyword)
            if not form.strip():
                raise ValueError(
                    f"keyword #{position} ({_shown(keyword)!r}) is empty or only white space"
                )
            by_form.setdefault(form.encode("utf-8", "surrogatepass"), keyword)
        self._keywords: Final = tuple(by_form.values())
        # Standard match semantics (not leftmost-first/longest): the automaton reports each match
        # as soon as its last character is read, so the first one reported ends earliest.
        self._automaton: Final = BytesAhoCorasick(by_form)

    def __len__(self) -> int:
        return len(self._keywords)

    def __repr__(self) -> str:
        return f"<KeywordMatcher of {len(self._keywords)} keywords>"

    def find(self, text: str) -> str | None:
        """A keyword that occurs in ``text``, as it was configured, or ``None``.

        The one reported is the occurrence that ends first in the normalised text; of several
        ending at the same character, the longest.
        """
        matches = self._automaton.find_matches_as_indexes(_haystack(text))
        return self._keywords[matches[0][0]] if matches else None

    def find_all(self, text: str) -> list[str]:
        """Every keyword that occurs in ``text`` (overlapping ones included), each once, as
        configured, in the order their first occurrences end (longest first on a tie)."""
        matches = self._automaton.find_matches_as_indexes(_haystack(text), overlapping=True)
        return [self._keywords[index] for index in dict.fromkeys(m[0] for m in matches)]


def check_text(matcher: KeywordMatcher, text: str) -> None:
    """Raise ``SmsError(isv.BLACK_KEY_CONTROL_LIMIT)`` if ``text`` contains a blocked keyword.

    The detail names the keyword (cut to 32 characters), never the text, which may be long and is
    the customer's content.
    """
    keyword = matcher.find(text)
    if keyword is not None:
        raise SmsError(errors.BLACK_KEY_CONTROL_LIMIT, f"blocked keyword {_shown(keyword)!r}")


def _haystack(text: str) -> bytes:
    # surrogatepass: a lone surrogate gets the 3-octet form, whose lead octet keeps the encoding
    # self-synchronising, so such input is matched like any other instead of raising.
    return normalise(text).encode("utf-8", "surrogatepass")


def _shown(keyword: str) -> str:
    if len(keyword) <= _SHOWN_KEYWORD_CHARS:
        return keyword
    return keyword[: _SHOWN_KEYWORD_CHARS - 1] + "…"
