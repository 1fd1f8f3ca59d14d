"""Accounts that act in lockstep, in the manner of CopyCatch and SynchroTrap.

One operator's accounts are driven by one scheduler: they send the same kind of request in
the same minutes, again and again, while unrelated customers only now and then happen to
act at once (Beutel et al., "CopyCatch", WWW 2013; Cao et al., "SynchroTrap", CCS 2014)::

    pairs = lockstep_pairs(account, t, key)          # pairs that often act together
    group = lockstep_groups(pairs, n_accounts)       # group label per account, -1 = none

An exchange is (account, t, key): ``key`` is what was acted on, a prompt-template
fingerprint or a model id, as the caller chooses. Time is cut into windows of ``window``
seconds; the moment of an exchange is its bucket (key, floor(t / window)). Two exchanges
match when they have the same key and their windows are the same or adjacent: always when
less than ``window`` seconds apart, never when ``2 * window`` or more apart. Counting the
adjacent window keeps pairs whose jitter straddles a window boundary.

Only accounts in the same or adjacent buckets are compared, so the cost is linear in the
exchanges rather than quadratic in the accounts. A bucket of more than ``max_bucket``
accounts is either a popular moment (a model launch, the top of the hour) or a large
campaign firing at once. It is sampled, deterministically: its accounts are put in one
fixed pseudo-random order of all accounts, and each is compared only with its
``max_bucket // 2`` neighbours on either side in that order (the sorted-neighbourhood
method), and not with the adjacent windows' buckets. Skipping such buckets would blind the
hunt to the largest campaigns; sampling keeps them: since the order is the same in every
bucket, a campaign's accounts meet the same neighbours wave after wave and their counts
add up, while at a popular moment the neighbours change from one moment to the next.
Each account then costs at most ``max_bucket`` comparisons per bucket, whatever its size.

The key decides what chance looks like: on one popular model, customers who use it most
minutes meet by chance often enough to pass ``min_together``, and a few pass
``min_jaccard`` too. Prefer keys that say more (prompt-template fingerprints) where there
are any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

MAX_ACCOUNTS: Final = 2**31
"""Account indices are below this, so a pair of accounts packs into one int64."""


@dataclass(frozen=True, eq=False)
class Lockstep:
    """Pairs of accounts that acted together, sorted by (a, b).

    ``together`` counts distinct windows in which both acted on the same key: each account
    counts the windows of its own in which the other matched it, and the pair keeps the
    smaller count, so ``together`` never exceeds either account's windows and ``jaccard``
    stays in [0, 1].
    """

    a: Ints  # account index, a < b
    b: Ints  # account index
    together: Ints  # distinct windows in which both acted on the same key
    jaccard: Floats  # together / (windows of a + windows of b - together)


def lockstep_pairs(
    account: Ints,
    t: Ints,
    key: Ints,
    *,
    window: int = 60,
    min_together: int = 3,
    max_bucket: int = 50,
) -> Lockstep:
    """Pairs of accounts that acted on the same key in the same moments at least
    ``min_together`` times, with how often and their Jaccard similarity.

    ``account``, ``t`` (seconds) and ``key`` are parallel integer arrays, one entry per
    exchange, in any order; ``account`` values are indices (>= 0). A window of an account is
    a ``window``-second span in which it sent at least one exchange, whatever the key.
    Cost: O(N log N + P log P), N exchanges and P matched (account, account, window)
    triples, which is at most 3 * max_bucket * N.
    """
    account, t, key = _validate(account, t, key)
    if window < 1:
        raise ValueError(f"window must be >= 1 second, got {window}")
    if min_together < 1:
        raise ValueError(f"min_together must be >= 1, got {min_together}")
    if max_bucket < 2:
        raise ValueError(f"max_bucket must be >= 2, got {max_bucket}")
    if account.size == 0:
        return _empty()
    n = int(account.max()) + 1
    slot = t // window
    slot -= slot.min()
    n_slots = int(slot.max()) + 1
    windows = np.bincount(_distinct_pairs(account, slot, n_slots), minlength=n)

    # One entry per (key, window, account), sorted so that each bucket is a run and, inside
    # it, accounts are in the fixed pseudo-random order that big buckets are sampled in.
    order = np.lexsort((_scramble(account), slot, key))
    key, slot, member = key[order], slot[order], account[order]
    new = np.ones(member.size, dtype=np.bool_)
    new[1:] = (key[1:] != key[:-1]) | (slot[1:] != slot[:-1]) | (member[1:] != member[:-1])
    key, slot, member = key[new], slot[new], member[new]
    starts = np.flatnonzero(
        np.concatenate(([True], (key[1:] != key[:-1]) | (slot[1:] != slot[:-1])))
    )
    sizes = np.diff(np.append(starts, member.size))
    small = sizes <= max_bucket
    bucket_key, bucket_slot = key[starts], slot[starts]

    # Matches as positions (p, q) in the entries, one per unordered pair of entries: all
    # pairs in a small bucket, neighbours in a big one, and all pairs across a small bucket
    # and the next window's small bucket of the same key.
    last = starts + sizes - 1
    reach = np.where(small, sizes - 1, max_bucket // 2)
    i, j = _within(starts, sizes, last, reach)
    nxt = np.flatnonzero(
        small[:-1]
        & small[1:]
        & (bucket_key[1:] == bucket_key[:-1])
        & (bucket_slot[1:] == bucket_slot[:-1] + 1)
    )
    k, m = _cross(starts[nxt], sizes[nxt], starts[nxt + 1], sizes[nxt + 1])
    other = member[k] != member[m]
    p = np.concatenate((i, k[other]))
    q = np.concatenate((j, m[other]))
    p, q = _maybe_frequent(p, q, member, n, min_together)

    # Each side counts its own distinct windows in which the other matched it.
    mine = np.concatenate((p, q))
    theirs = np.concatenate((q, p))
    credited = _distinct_pairs(member[mine] * n + member[theirs], slot[mine], n_slots)
    pair, count = _runs(credited)
    # Both directions of every pair are there; keep the lower count.
    keep = count >= min_together
    a, b, count = pair[keep] // n, pair[keep] % n, count[keep]
    canonical = np.minimum(a, b) * n + np.maximum(a, b)
    order = np.argsort(canonical, kind="stable")
    canonical, count = canonical[order], count[order]
    twice = np.flatnonzero(canonical[1:] == canonical[:-1])
    together = np.minimum(count[twice], count[twice + 1])
    a, b = canonical[twice] // n, canonical[twice] % n

    union = windows[a] + windows[b] - together
    return Lockstep(a, b, together, (together / union).astype(np.float64))


def lockstep_groups(
    pairs: Lockstep, n_accounts: int, *, min_jaccard: float = 0.2, min_size: int = 2
) -> Ints:
    """Group label per account: connected components of pairs with ``jaccard >= min_jaccard``.

    Groups of fewer than ``min_size`` accounts, and accounts in no strong pair, get -1.
    Labels are 0, 1, ... in order of each group's smallest account index. A component can
    chain accounts that are not all pairwise in lockstep; raise ``min_jaccard`` to cut
    such chains.
    """
    if min_size < 2:
        raise ValueError(f"min_size must be >= 2, got {min_size}")
    if n_accounts < 0:
        raise ValueError(f"n_accounts must be >= 0, got {n_accounts}")
    if pairs.a.size and max(int(pairs.a.max()), int(pairs.b.max())) >= n_accounts:
        raise ValueError(f"pairs name accounts beyond n_accounts={n_accounts}")
    strong = pairs.jaccard >= min_jaccard
    a, b = pairs.a[strong], pairs.b[strong]
    links = coo_array((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n_accounts, n_accounts))
    count, found = connected_components(links, directed=False)
    label = np.asarray(found, dtype=np.int64)
    size = np.bincount(label, minlength=count)
    smallest = np.full(count, n_accounts, dtype=np.int64)
    np.minimum.at(smallest, label, np.arange(n_accounts, dtype=np.int64))
    kept = np.flatnonzero(size >= min_size)
    rank = np.full(count, -1, dtype=np.int64)
    rank[kept[np.argsort(smallest[kept])]] = np.arange(kept.size, dtype=np.int64)
    return rank[label]


def _validate(account: Ints, t: Ints, key: Ints) -> tuple[Ints, Ints, Ints]:
    arrays = [np.asarray(x) for x in (account, t, key)]
    for name, array in zip(("account", "t", "key"), arrays, strict=True):
        if array.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must be integers, got {array.dtype}")
    if not arrays[0].size == arrays[1].size == arrays[2].size:
        raise ValueError("account, t and key must have the same length")
    if arrays[0].size and (arrays[0].min() < 0 or arrays[0].max() >= MAX_ACCOUNTS):
        raise ValueError(f"account indices must be in [0, {MAX_ACCOUNTS})")
    account, t, key = (x.astype(np.int64, copy=False) for x in arrays)
    return account, t, key


def _empty() -> Lockstep:
    none = np.zeros(0, dtype=np.int64)
    return Lockstep(none, none.copy(), none.copy(), np.zeros(0, dtype=np.float64))


def _scramble(account: Ints) -> npt.NDArray[np.uint64]:
    """A fixed pseudo-random order of accounts: multiplication by an odd constant mod 2**64
    is a bijection, so distinct accounts never tie."""
    return account.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def _within(starts: Ints, sizes: Ints, last: Ints, reach: Ints) -> tuple[Ints, Ints]:
    """(i, j) for entries of one run (bucket) at most its ``reach`` apart, i < j.

    Step by step: the entries still with a partner ``step`` places on, paired with it.
    """
    position = np.arange(int(sizes.sum()), dtype=np.int64)
    limit = np.minimum(np.repeat(last, sizes), position + np.repeat(reach, sizes))
    firsts, seconds = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    step = 1
    more = position < limit
    position, limit = position[more], limit[more]
    while position.size:
        firsts.append(position)
        seconds.append(position + step)
        step += 1
        more = position + step <= limit
        position, limit = position[more], limit[more]
    return np.concatenate(firsts), np.concatenate(seconds)


def _offsets(sizes: Ints) -> Ints:
    """0, 1, ..., size - 1 for each size, concatenated."""
    total = int(sizes.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def _cross(start1: Ints, len1: Ints, start2: Ints, len2: Ints) -> tuple[Ints, Ints]:
    """All (i, j) with i in [start1, start1 + len1) and j in [start2, start2 + len2), per run."""
    sizes = len1 * len2
    run = np.repeat(np.arange(sizes.size), sizes)
    offset = _offsets(sizes)
    i = start1[run] + offset // len2[run]
    j = start2[run] + offset % len2[run]
    return i.astype(np.int64), j.astype(np.int64)


_HASH_MULTIPLIERS = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0xC2B2AE3D27D4EB4F))


def _maybe_frequent(p: Ints, q: Ints, member: Ints, n: int, min_together: int) -> tuple[Ints, Ints]:
    """Drop matches of pairs that match fewer than ``min_together`` times in all.

    A pair's ``together`` is at most its number of matches, so such pairs cannot qualify.
    Most pairs match once or twice by chance; counting them exactly would need a sort of
    every match. Instead matches are counted in two hashed tables (a count-min sketch):
    a table cell holds at least the count of every pair hashed to it, so a pair whose cell
    is below ``min_together`` in either table is certainly rare. Collisions only let some
    rare pairs through, to be counted exactly later.
    """
    if p.size < 2**16 or min_together < 2:
        return p, q
    a, b = member[p], member[q]
    pair = (np.minimum(a, b) * n + np.maximum(a, b)).astype(np.uint64)
    bits = min(23, int(p.size).bit_length())
    shift = np.uint64(64 - bits)
    keep = np.ones(p.size, dtype=np.bool_)
    for multiplier in _HASH_MULTIPLIERS:
        cell = ((pair * multiplier) >> shift).astype(np.int64)
        keep &= np.bincount(cell, minlength=1 << bits)[cell] >= min_together
    return p[keep], q[keep]


def _runs(sorted_values: Ints) -> tuple[Ints, Ints]:
    """Each distinct value of a sorted array and how often it occurs."""
    if sorted_values.size == 0:
        return sorted_values, sorted_values.copy()
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    return sorted_values[starts], np.diff(np.append(starts, sorted_values.size))


def _distinct_pairs(group: Ints, value: Ints, n_values: int) -> Ints:
    """``group`` of each distinct (group, value), in (group, value) order; value < n_values."""
    if int(group.max(initial=0)) < np.iinfo(np.int64).max // n_values:
        # A sort, not np.unique: on tens of millions of int64 it is many times faster.
        packed = np.sort(group * n_values + value)
        first = np.ones(packed.size, dtype=np.bool_)
        first[1:] = packed[1:] != packed[:-1]
        return packed[first] // n_values
    order = np.lexsort((value, group))
    group, value = group[order], value[order]
    new = np.ones(group.size, dtype=np.bool_)
    new[1:] = (group[1:] != group[:-1]) | (value[1:] != value[:-1])
    return group[new]
