"""The derived corpus shipped with the package: real prompts, answers and tool schemas.

Built by ``scripts/build_corpus.py`` from public sets (see ``data/corpus/LICENSES.md``) and
read through ``importlib.resources``, so an installed package needs nothing else. The
simulator draws its traffic from it (``simulate.corpus``); the guard warms its text rules on
its answers.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import orjson

from .errors import InputError

FILES = ("prompts.jsonl.gz", "answers.jsonl.gz", "toolsets.jsonl.gz")


def folder() -> Traversable:
    """Where the corpus files and their licences are, inside the installed package."""
    return resources.files("distillguard") / "data" / "corpus"


def lines(name: str) -> Iterator[dict[str, Any]]:
    """The records of one corpus file (one of ``FILES``)."""
    entry = folder() / name
    try:
        raw = gzip.decompress(entry.read_bytes())
    except FileNotFoundError as exc:
        raise InputError(f"the corpus file {name} is missing: run scripts/build_corpus.py") from exc
    # Split on '\n' only: the texts hold U+2028, which splitlines() would cut at.
    for line in raw.split(b"\n"):
        if line:
            yield orjson.loads(line)


def answer_texts() -> Iterator[str]:
    """The corpus's real answers, one text each (the guard warms its text rules on them)."""
    for row in lines("answers.jsonl.gz"):
        yield str(row["text"])
