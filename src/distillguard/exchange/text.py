"""Text → compact features: normalisation, content masking, fingerprints, script.

A template fingerprint must stay the same when only the filled-in content of a prompt
changes. We mask what is typically filled in (numbers, quoted strings, code, URLs, e-mail
addresses) and then hash three views of what is left: the first words, the last words, and
the heads of the lines. Templates put their fixed frame at the start, at the end, or as
line labels ("Question: ... / Answer: ..."); each view catches one of these layouts.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import islice
from typing import Final

_WS = re.compile(r"\s+")
_CODE = re.compile(r"```.*?(?:```|$)", re.S)
_URL = re.compile(r"https?://\S+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_QUOTE = re.compile(r"\"[^\"\n]{0,400}\"|“[^”\n]{0,400}”|'[^'\n]{2,400}'")
# ``[-+]?\d[\d,.:/]*``, written to start with a character class: ``re`` then skips to the
# candidates in C instead of trying the pattern at every position (twice as fast).
_NUMBER = re.compile(r"[-+\d](?:(?<=[-+])\d|(?<=\d))[\d,.:/]*")
_DIGIT = re.compile(r"\d")
_TOKEN = r"<\w+>|\w+|[^\w\s]"
_WORD = re.compile(_TOKEN)
# The first two words of each line: ``_WORD`` skips only white space between words.
_LINE_HEADS = re.compile(rf"^[^\S\n]*({_TOKEN})(?:[^\S\n]*({_TOKEN}))?", re.M)

PREFIX_WORDS: Final = 8
SUFFIX_WORDS: Final = 8
SKELETON_LINES: Final = 16
LINE_HEAD_WORDS: Final = 2
_PREFIX_CHARS: Final = 200
_SUFFIX_CHARS: Final = 200
_SKELETON_CHARS: Final = 4000
_HEAD_CHARS: Final = 40
TEMPLATE_LONG_CHARS: Final = 400
"""Prompts longer than this are fingerprinted by their skeleton, shorter ones by their prefix
(a long prompt's opening words are often filled-in content; a short one has no skeleton)."""


def normalise(text: str) -> str:
    """Lower-case and collapse white space: the form that prompt hashes are taken of."""
    return " ".join(text.split()).lower()


def mask(text: str) -> str:
    """Replace typical filled-in content by placeholders, keep the frame."""
    # Each pattern runs only when its cheap marker is present: most prompts have no code,
    # URL or e-mail address, and scanning for them costs more than the rest together.
    if "```" in text:
        text = _CODE.sub(" <code> ", text)
    if "://" in text:
        text = _URL.sub(" <url> ", text)
    if "@" in text:
        text = _EMAIL.sub(" <email> ", text)
    if '"' in text or "'" in text or "“" in text:
        text = _QUOTE.sub(" <quote> ", text)
    return _NUMBER.sub("0", text) if _DIGIT.search(text) else text


def frame_views(text: str) -> tuple[str, str, str]:
    """The masked prefix, suffix and line-head skeleton of a prompt (lower-cased).

    Only the regions each view looks at are masked, so the cost per prompt is bounded
    whatever its length (a code fence or quote cut by a region's edge is masked to the edge).
    """
    words = _head_words(text)
    prefix = " ".join(words[:PREFIX_WORDS])
    if len(text) > _PREFIX_CHARS:
        words = _WORD.findall(mask(text[-_SUFFIX_CHARS:].lower()))
    suffix = " ".join(words[-SUFFIX_WORDS:])
    return prefix, suffix, _skeleton(text, prefix)


def template_view(text: str) -> str:
    """The one view a prompt's template fingerprint is taken of: the skeleton of a prompt
    longer than ``TEMPLATE_LONG_CHARS``, the prefix of a shorter one (``frame_views`` gives
    the same strings; this computes only the one needed, for a single request)."""
    if len(text) <= TEMPLATE_LONG_CHARS:
        return _prefix(text)
    return _skeleton(text, "" if "\n" in text else _prefix(text))


def _prefix(text: str) -> str:
    return " ".join(_head_words(text)[:PREFIX_WORDS])


def _head_words(text: str) -> list[str]:
    return _WORD.findall(mask(text[:_PREFIX_CHARS].lower()))


def _skeleton(text: str, prefix: str) -> str:
    """The first words of the first lines (of the prefix for a one-line prompt)."""
    if "\n" not in text:
        return " ".join(prefix.split()[:LINE_HEAD_WORDS])
    lines = islice(
        (line[:_HEAD_CHARS] for line in text[:_SKELETON_CHARS].split("\n") if line.strip()),
        SKELETON_LINES,
    )
    masked = mask("\n".join(lines).lower())
    heads = [
        f"{first} {second}" if second else first for first, second in _LINE_HEADS.findall(masked)
    ]
    return "\n".join(heads)


_SCRIPTS: Final = (
    ("cjk", re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("arabic", re.compile(r"[\u0600-\u06ff]")),
    ("devanagari", re.compile(r"[\u0900-\u097f]")),
)
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SAMPLE = 600


def script(text: str) -> str:
    """Dominant writing system of a text, from its first characters."""
    sample = text[:_SAMPLE]
    if not sample or sample.isspace():
        return "none"
    if sample.isascii():
        return "latin" if _LATIN.search(sample) else "other"
    best, best_count = "latin", len(_LATIN.findall(sample))
    for name, pattern in _SCRIPTS:
        # One CJK character carries about as much as a three-letter Latin word.
        count = len(pattern.findall(sample)) * (3 if name == "cjk" else 1)
        if count > best_count:
            best, best_count = name, count
    return best if best_count else "other"


_UA_VERSION = re.compile(r"[/ ]v?\d[\w.\-+]*")
_UA_PARENS = re.compile(r"\([^)]*\)")


@lru_cache(maxsize=4096)
def user_agent_family(user_agent: str) -> str:
    """The user agent without versions and platform comments: ``OpenAI/Python 1.2.3`` →
    ``OpenAI/Python``."""
    family = _UA_PARENS.sub("", user_agent)
    family = _UA_VERSION.sub("", family)
    return _WS.sub(" ", family).strip()[:80] or "unknown"
