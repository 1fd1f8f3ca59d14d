"""Holding convictions from one hunt to the next, so verdicts do not flap.

A campaign near the operating point can score just above it in one hunt and just below in
the next (a quiet day, a few new accounts in its community). A guard fed by successive
hunts would then block it, let it through, and block it again. Alerting systems answer
this with hysteresis, and so does the hunt when given the previous hunt's ``accounts.csv``:
an account that was ``attack`` there stays ``attack`` (reason ``HELD``) while it is still
``suspicious`` now, in a cluster, and its risk has not fallen below the release score,
halfway between the suspicious and the attack scores; it is released once it falls below
that or is linked to nobody (alone, an account is never ``attack``). Entering takes the
attack score; leaving takes falling clearly below it. Trusted accounts are never held.

Why halfway, and not the suspicious score itself: in replays (``docs/guard.md``) holding
everything still suspicious also held a company's coding agent that one early hunt had
convicted on half a day of traffic, for the rest of the run; its risk sank to the suspicious
band, while campaigns that flap sit just under the attack score. The midpoint is a rule, not
a value fitted to those replays.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from .scoring import Scores

HELD: Final = "HELD"
MAX_FIELD: Final = 4096


def read_convicted(path: Path) -> frozenset[str]:
    """The accounts with the ``attack`` verdict in a previous hunt's ``accounts.csv`` (or in
    the ``accounts.csv`` of the folder ``path``). ``InputError`` naming the file, and the
    line where it applies, if it is not such a file."""
    file = path / "accounts.csv" if path.is_dir() else path
    try:
        with file.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or not {"account_id", "verdict"} <= set(header):
                raise InputError(
                    f"{file}: line 1: not a hunt's accounts.csv (needs account_id and verdict)"
                )
            account, verdict = header.index("account_id"), header.index("verdict")
            convicted: set[str] = set()
            for line, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise InputError(
                        f"{file}: line {line}: {len(row)} fields where the header has {len(header)}"
                    )
                if len(row[account]) > MAX_FIELD:
                    raise InputError(f"{file}: line {line}: account_id is over {MAX_FIELD} chars")
                if row[verdict] == "attack":
                    convicted.add(row[account])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{file}: cannot read the previous hunt ({exc})") from None
    return frozenset(convicted)


def hold(
    convicted: frozenset[str],
    names: list[str],
    scores: Scores,
    attack: npt.NDArray[np.bool_],
    trusted: npt.NDArray[np.bool_],
    cluster: npt.NDArray[np.int64],
) -> int:
    """Keep ``attack`` for the accounts in ``convicted`` that are ``suspicious`` now, in a
    cluster and at or above the release score (``scores`` and ``attack`` are updated in
    place); returns how many were held."""
    release = release_score(scores)
    count = 0
    for i, name in enumerate(names):
        if scores.verdict[i] != "suspicious" or name not in convicted:
            continue
        if scores.risk[i] < release:
            continue
        if trusted[i] or cluster[i] < 0:
            continue
        scores.verdict[i] = "attack"
        scores.reasons[i] = [HELD, *scores.reasons[i]]
        attack[i] = True
        count += 1
    return count


def release_score(scores: Scores) -> float:
    """The risk under which a held conviction is let go: halfway between the suspicious and
    the attack scores of this hunt's operating point."""
    return (scores.suspicious_threshold + scores.attack_threshold) / 2
