"""Keyword control: build time, time per match and memory of the keyword matcher.

    python bench/keywords_bench.py [--keywords 10000] [--length 1000] [--texts 200]
                                   [--latin-only] [--no-alternatives]

The keyword list is half Chinese (2-6 characters from the 3,500 most used ideographs' block) and
half Latin (one or two words of 5-10 letters), as an SMS platform's blocked-keyword list tends to
be; ``--latin-only`` keeps only Latin keywords and texts. Texts are ``--length`` characters of
the same mix: *clean* ones contain no keyword (checked naively), *dirty* ones have one keyword
near the end (the whole text is still scanned). Every figure is the median of five rounds.

Alternatives measured against ``smsgate.domain.keywords`` (same normalised inputs):

- a pure-Python Aho-Corasick automaton (dict transitions, failure links), defined below;
- ``pyahocorasick`` if it is installed (it is not a dependency): on the text itself, and on its
  UTF-8 octets read as Latin-1, which keeps its trie nodes' child lists short.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from smsgate.domain.keywords import KeywordMatcher, normalise

ROUNDS = 5
CJK = [chr(code) for code in range(0x4E00, 0x4E00 + 3500)]
LATIN = "abcdefghijklmnopqrstuvwxyz"
FILLER = "  ,.!0123456789"


def make_keywords(rng: random.Random, count: int, latin_only: bool) -> list[str]:
    keywords: set[str] = set()
    while len(keywords) < count:
        if not latin_only and rng.random() < 0.5:
            keywords.add("".join(rng.choices(CJK, k=rng.randint(2, 6))))
        else:
            words = [
                "".join(rng.choices(LATIN, k=rng.randint(5, 10))) for _ in range(rng.randint(1, 2))
            ]
            keywords.add(" ".join(words))
    return sorted(keywords)


def make_text(rng: random.Random, length: int, latin_only: bool) -> str:
    chars = []
    for _ in range(length):
        roll = rng.random()
        if not latin_only and roll < 0.45:
            chars.append(rng.choice(CJK))
        elif roll < 0.85:
            chars.append(rng.choice(LATIN))
        else:
            chars.append(rng.choice(FILLER))
    return "".join(chars)


def naive_clean(forms: Sequence[str], text: str) -> bool:
    haystack = normalise(text)
    return not any(form in haystack for form in forms)


class PurePythonAutomaton:
    """Textbook Aho-Corasick: a trie of dicts, breadth-first failure links, output lists merged
    along the failure links. Returns the index of the first keyword found."""

    def __init__(self, words: Sequence[str]) -> None:
        goto: list[dict[str, int]] = [{}]
        out: list[tuple[int, ...]] = [()]
        for index, word in enumerate(words):
            state = 0
            for char in word:
                following = goto[state].get(char)
                if following is None:
                    following = len(goto)
                    goto.append({})
                    out.append(())
                    goto[state][char] = following
                state = following
            out[state] += (index,)
        fail = [0] * len(goto)
        queue = deque(goto[0].values())
        while queue:
            state = queue.popleft()
            for char, following in goto[state].items():
                queue.append(following)
                back = fail[state]
                while back and char not in goto[back]:
                    back = fail[back]
                target = goto[back].get(char, 0)
                fail[following] = target if target != following else 0
                out[following] += out[fail[following]]
        self.goto, self.fail, self.out = goto, fail, out

    def find(self, text: str) -> int | None:
        goto, fail, out = self.goto, self.fail, self.out
        state = 0
        for char in text:
            while True:
                following = goto[state].get(char)
                if following is not None:
                    state = following
                    break
                if not state:
                    break
                state = fail[state]
            if out[state]:
                return out[state][0]
        return None


def rss_bytes() -> int:
    """Resident set size from /proc (Linux); 0 elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def median_build(build: Callable[[], object]) -> tuple[object, float]:
    timings = []
    built: object = None
    for _ in range(3):
        gc.collect()
        started = time.perf_counter()
        built = build()
        timings.append(time.perf_counter() - started)
    return built, statistics.median(timings)


def per_call_us(function: Callable[[str], object], texts: Sequence[str]) -> float:
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for text in texts:
            function(text)
        rounds.append((time.perf_counter() - started) / len(texts))
    return statistics.median(rounds) * 1e6


def memory_of(build: Callable[[], object], copies: int = 4) -> tuple[float, float]:
    """(RSS growth, Python heap growth traced by tracemalloc) per build, averaged over ``copies``
    builds kept alive together, so that memory freed by earlier builds does not hide the cost."""
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    built = [build() for _ in range(copies)]
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = rss_bytes()
    del built
    return (rss_after - rss_before) / copies, traced / copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keywords", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=1_000, help="characters per text")
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--latin-only", action="store_true")
    parser.add_argument("--no-alternatives", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    keywords = make_keywords(rng, args.keywords, args.latin_only)
    forms = [normalise(keyword) for keyword in keywords]
    clean: list[str] = []
    while len(clean) < args.texts:
        text = make_text(rng, args.length, args.latin_only)
        if naive_clean(forms, text):
            clean.append(text)
    dirty = []
    for text in clean:
        keyword = rng.choice(keywords)
        cut = args.length - len(keyword) - 5
        dirty.append(text[:cut] + keyword.upper() + text[cut + len(keyword) :])
    assert all(len(text) == args.length for text in dirty)

    kind = "Latin" if args.latin_only else "Chinese + Latin"
    print(f"{len(keywords)} {kind} keywords, {args.texts} texts of {args.length} characters")
    print(f"median of {ROUNDS} rounds; CPython, {os.cpu_count()} CPUs\n")

    matcher, build_s = median_build(lambda: KeywordMatcher(keywords))
    assert isinstance(matcher, KeywordMatcher)
    assert all(matcher.find(text) is None for text in clean)
    assert all(matcher.find(text) is not None for text in dirty)
    rss, traced = memory_of(lambda: KeywordMatcher(keywords))
    print("smsgate KeywordMatcher (ahocorasick_rs over UTF-8)")
    print(f"  build            {build_s * 1e3:8.1f} ms")
    print(f"  memory           {rss / 2**20:8.1f} MiB RSS, {traced / 2**20:.1f} MiB Python heap")
    print(f"  normalise only   {per_call_us(normalise, clean):8.1f} µs per text")
    print(f"  find, clean      {per_call_us(matcher.find, clean):8.1f} µs per text")
    print(f"  find, dirty      {per_call_us(matcher.find, dirty):8.1f} µs per text")
    print(f"  find_all, dirty  {per_call_us(matcher.find_all, dirty):8.1f} µs per text")
    short = [text[:70] for text in clean]
    print(f"  find, 70 chars   {per_call_us(matcher.find, short):8.1f} µs per text")

    if args.no_alternatives:
        return
    print("\nalternatives (normalisation included, as above)")
    python_ac, build_s = median_build(lambda: PurePythonAutomaton(forms))
    assert isinstance(python_ac, PurePythonAutomaton)
    rss, traced = memory_of(lambda: PurePythonAutomaton(forms))

    def python_find(text: str) -> int | None:
        return python_ac.find(normalise(text))

    print(
        f"  pure Python      build {build_s * 1e3:6.1f} ms, "
        f"RSS {rss / 2**20:5.1f} MiB, traced {traced / 2**20:5.1f} MiB, "
        f"find clean {per_call_us(python_find, clean):7.1f} µs, "
        f"dirty {per_call_us(python_find, dirty):7.1f} µs"
    )
    try:
        import ahocorasick
    except ImportError:
        print("  pyahocorasick    not installed (pip install pyahocorasick to compare)")
        return

    def utf8_as_latin1(text: str) -> str:
        return text.encode("utf-8").decode("latin-1")

    for label, transform in (("pyahocorasick   ", str), ("pyahocorasick/u8", utf8_as_latin1)):

        def build(transform: Callable[[str], str] = transform) -> object:
            automaton = ahocorasick.Automaton()
            for index, form in enumerate(forms):
                automaton.add_word(transform(form), index)
            automaton.make_automaton()
            return automaton

        automaton, build_s = median_build(build)
        rss, traced = memory_of(build)

        def c_find(
            text: str, automaton: object = automaton, transform: Callable[[str], str] = transform
        ) -> object:
            return next(automaton.iter(transform(normalise(text))), None)  # type: ignore[attr-defined]

        print(
            f"  {label} build {build_s * 1e3:6.1f} ms, "
            f"RSS {rss / 2**20:5.1f} MiB, traced {traced / 2**20:5.1f} MiB, "
            f"find clean {per_call_us(c_find, clean):7.1f} µs, "
            f"dirty {per_call_us(c_find, dirty):7.1f} µs"
        )


if __name__ == "__main__":
    main()
