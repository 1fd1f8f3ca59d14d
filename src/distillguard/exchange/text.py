"""Text → compact features: normalisation, content masking, fingerprints, script.

A template fingerprint must stay the same when only the filled-in content of a prompt
changes. We mask what is typically filled in (numbers, quoted strings, code, URLs, e-mail
addresses) and then hash three views of what is left: the first words, the last words, and
the heads of the lines. Templates put their fixed frame at the start, at the end, or as
line labels ("Question: ... / Answer: ..."); each view catches one of these layouts.
"""

from __future__ import annotations

import re
from typing import Final

_WS = re.compile(r"\s+")
_MASKS: Final = (
    (re.compile(r"```.*?(?:```|$)", re.S), " <code> "),
    (re.compile(r"https?://\S+"), " <url> "),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), " <email> "),
    (re.compile(r"\"[^\"\n]{0,400}\"|“[^”\n]{0,400}”|'[^'\n]{2,400}'"), " <quote> "),
    (re.compile(r"[-+]?\d[\d,.:/]*"), "0"),
)
_WORD = re.compile(r"<\w+>|\w+|[^\w\s]", re.U)

PREFIX_WORDS: Final = 8
SUFFIX_WORDS: Final = 8
SKELETON_LINES: Final = 16
LINE_HEAD_WORDS: Final = 2


def normalise(text: str) -> str:
    """Lower-case and collapse white space: the form that prompt hashes are taken of."""
    return _WS.sub(" ", text).strip().lower()


def mask(text: str) -> str:
    """Replace typical filled-in content by placeholders, keep the frame."""
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text


def frame_views(text: str) -> tuple[str, str, str]:
    """The masked prefix, suffix and line-head skeleton of a prompt (lower-cased)."""
    masked = mask(text.lower())
    words = _WORD.findall(masked)
    prefix = " ".join(words[:PREFIX_WORDS])
    suffix = " ".join(words[-SUFFIX_WORDS:])
    heads = []
    for line in masked.split("\n"):
        line_words = _WORD.findall(line)
        if line_words:
            heads.append(" ".join(line_words[:LINE_HEAD_WORDS]))
            if len(heads) == SKELETON_LINES:
                break
    return prefix, suffix, "\n".join(heads)


_SCRIPTS: Final = (
    ("cjk", re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
    ("arabic", re.compile(r"[\u0600-\u06ff]")),
    ("devanagari", re.compile(r"[\u0900-\u097f]")),
)
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SAMPLE = 2000


def script(text: str) -> str:
    """Dominant writing system of a text, from its first characters."""
    sample = text[:_SAMPLE]
    if not sample.strip():
        return "none"
    best, best_count = "latin", len(_LATIN.findall(sample))
    for name, pattern in _SCRIPTS:
        # One CJK character carries about as much as a three-letter Latin word.
        count = len(pattern.findall(sample)) * (3 if name == "cjk" else 1)
        if count > best_count:
            best, best_count = name, count
    return best if best_count else "other"


_UA_VERSION = re.compile(r"[/ ]v?\d[\w.\-+]*")
_UA_PARENS = re.compile(r"\([^)]*\)")


def user_agent_family(user_agent: str) -> str:
    """The user agent without versions and platform comments: ``OpenAI/Python 1.2.3`` →
    ``OpenAI/Python``."""
    family = _UA_PARENS.sub("", user_agent)
    family = _UA_VERSION.sub("", family)
    return _WS.sub(" ", family).strip()[:80] or "unknown"
