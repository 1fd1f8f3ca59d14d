"""Lockstep: synchronised waves against independent accounts at the same rates, popular
moments, window boundaries, and the pairs checked against a brute-force count."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.hunt.lockstep import Lockstep, lockstep_groups, lockstep_pairs

Ints = npt.NDArray[np.int64]
DAY = 86_400


@dataclass(frozen=True)
class Traffic:
    account: Ints
    t: Ints
    key: Ints
    groups: list[list[int]]  # the accounts of each synchronised group
    independent: list[int]  # accounts acting on their own

    @property
    def n_accounts(self) -> int:
        return int(self.account.max()) + 1


def traffic(
    seed: int,
    *,
    groups: tuple[tuple[int, int], ...] = ((8, 60),),
    n_independent: int = 300,
    rate: int = 60,
    keys: int = 200,
    jitter: int = 5,
) -> Traffic:
    """A day of exchanges. Each group (accounts, waves) fires in waves at random moments,
    each on one random key, every member a few seconds off (uniform within ``jitter``);
    a fifth of the waves sit on a minute boundary, so members fall on both sides of it.
    Independent accounts send ``rate`` exchanges each at random times (Poisson), with keys
    drawn the same way: the same rates as the groups, without the synchrony.
    """
    rng = np.random.default_rng(seed)
    account, t, key = [], [], []
    members: list[list[int]] = []
    next_account = 0
    for size, n_waves in groups:
        ids = np.arange(next_account, next_account + size)
        next_account += size
        members.append(ids.tolist())
        moments = rng.integers(0, DAY, n_waves)
        moments[: n_waves // 5] = moments[: n_waves // 5] // 60 * 60  # on a boundary
        wave_keys = rng.integers(0, keys, n_waves)
        account.append(np.tile(ids, n_waves))
        t.append(np.repeat(moments, size) + rng.integers(-jitter, jitter + 1, size * n_waves))
        key.append(np.repeat(wave_keys, size))
    ids = np.arange(next_account, next_account + n_independent)
    counts = rng.poisson(rate, n_independent)
    account.append(np.repeat(ids, counts))
    t.append(rng.integers(0, DAY, int(counts.sum())))
    key.append(rng.integers(0, keys, int(counts.sum())))
    order = rng.permutation(sum(a.size for a in account))
    return Traffic(
        np.concatenate(account)[order].astype(np.int64),
        np.concatenate(t)[order].astype(np.int64),
        np.concatenate(key)[order].astype(np.int64),
        members,
        ids.tolist(),
    )


def as_dict(pairs: Lockstep) -> dict[tuple[int, int], tuple[int, float]]:
    return {
        (a, b): (n, j)
        for a, b, n, j in zip(
            pairs.a.tolist(),
            pairs.b.tolist(),
            pairs.together.tolist(),
            pairs.jaccard.tolist(),
            strict=True,
        )
    }


def ints(*values: int) -> Ints:
    return np.array(values, dtype=np.int64)


# Waves against independent accounts --------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_waves_are_paired_and_grouped(seed: int) -> None:
    data = traffic(seed, groups=((8, 60), (15, 40), (5, 30)))
    pairs = lockstep_pairs(data.account, data.t, data.key)
    found = as_dict(pairs)
    for group, (_, n_waves) in zip(data.groups, ((8, 60), (15, 40), (5, 30)), strict=True):
        for a, b in itertools.combinations(group, 2):
            together, jaccard = found[a, b]
            # Jitter never splits a wave: both sides of a boundary are counted.
            assert together >= n_waves - 2
            assert jaccard >= 0.9
    label = lockstep_groups(pairs, data.n_accounts)
    assert [sorted({int(label[a]) for a in group}) for group in data.groups] == [[0], [1], [2]]
    assert (label[data.independent] == -1).all()


@pytest.mark.parametrize("seed", [4, 5])
def test_independent_accounts_at_the_same_rates_are_not(seed: int) -> None:
    data = traffic(seed, groups=(), n_independent=600, rate=60)
    pairs = lockstep_pairs(data.account, data.t, data.key)
    candidates = 600 * 599 // 2
    assert pairs.a.size / candidates < 1e-4
    assert (pairs.jaccard < 0.2).all()
    assert (lockstep_groups(pairs, data.n_accounts) == -1).all()


def test_a_boundary_between_two_windows_does_not_part_a_pair() -> None:
    minutes = np.arange(0, 300, 30)
    t = np.concatenate([minutes * 60 + 59, minutes * 60 + 61])  # 2 s apart, across it
    account = np.repeat(ints(0, 1), minutes.size)
    pairs = lockstep_pairs(account, t, np.zeros(t.size, dtype=np.int64))
    assert as_dict(pairs) == {(0, 1): (minutes.size, 1.0)}


def test_two_windows_apart_or_another_key_is_not_together() -> None:
    minutes = np.arange(0, 300, 30)
    t = np.concatenate([minutes * 60, minutes * 60 + 120])
    account = np.repeat(ints(0, 1), minutes.size)
    assert lockstep_pairs(account, t, np.zeros(t.size, dtype=np.int64)).a.size == 0
    same_time = np.concatenate([minutes * 60, minutes * 60])
    keys = np.repeat(ints(1, 2), minutes.size)
    assert lockstep_pairs(account, same_time, keys).a.size == 0


def test_together_and_jaccard_by_hand() -> None:
    # a: key 1 in windows 0, 1, 2, 5.  b: key 1 in windows 0, 2, 9; key 2 in window 1.
    # a is matched in 0 (b in 0), 1 (b in 0 and 2), 2 (b in 2): 3 of its windows.
    # b is matched in 0 and 2 (not 1: a has no key 2; not 9): 2 of its 4 windows.
    account = ints(0, 0, 0, 0, 1, 1, 1, 1)
    t = ints(0, 60, 179, 300, 30, 150, 545, 70)
    key = ints(1, 1, 1, 1, 1, 1, 1, 2)
    pairs = lockstep_pairs(account, t, key, min_together=1)
    assert as_dict(pairs) == {(0, 1): (2, 2 / (4 + 4 - 2))}
    assert lockstep_pairs(account, t, key, min_together=3).a.size == 0
    # With ten-minute windows everything is in window 0: one window each, together once.
    assert as_dict(lockstep_pairs(account, t, key, window=600, min_together=1)) == {
        (0, 1): (1, 1.0)
    }


# Popular moments -------------------------------------------------------------------------


def test_a_popular_moment_is_sampled_not_compared_in_full() -> None:
    # A thousand accounts all on one model in the same five minutes: in full, half a
    # million pairs; sampled, each account meets at most max_bucket of them.
    account = np.tile(np.arange(1000), 5)
    t = np.repeat(np.arange(5) * 60, 1000)
    pairs = lockstep_pairs(account, t, np.zeros(t.size, dtype=np.int64), max_bucket=50)
    assert 0 < pairs.a.size <= 1000 * 25
    assert np.bincount(np.concatenate([pairs.a, pairs.b])).max() <= 50
    full = lockstep_pairs(account[:500], t[:500], np.zeros(500, dtype=np.int64), max_bucket=500)
    assert full.a.size == 0  # one window only: never three times together


@pytest.mark.parametrize("seed", [6, 7])
def test_a_campaign_inside_a_crowd_at_popular_moments(seed: int) -> None:
    # Every minute a different tenth of 2,000 customers uses the popular model; eighty
    # accounts of a campaign join them together at thirty of those minutes.
    rng = np.random.default_rng(seed)
    crowd = np.concatenate([rng.choice(2000, 200, replace=False) for _ in range(300)])
    crowd_t = np.repeat(np.arange(300) * 60, 200) + rng.integers(0, 60, crowd.size)
    campaign = np.tile(np.arange(2000, 2080), 30)
    moments = rng.choice(300, 30, replace=False) * 60 + 20
    campaign_t = np.repeat(moments, 80) + rng.integers(-3, 4, campaign.size)
    account = np.concatenate([crowd, campaign])
    t = np.concatenate([crowd_t, campaign_t])
    pairs = lockstep_pairs(account, t, np.zeros(account.size, dtype=np.int64))
    label = lockstep_groups(pairs, 2080)
    (group,) = set(label[2000:].tolist())
    assert group >= 0
    assert not (label[:2000] == group).any()
    # Chance still pairs a few heavy users of the one model: the reason to prefer keys
    # that say more (prompt templates) where there are any.
    assert (label[:2000] >= 0).mean() < 0.05


@pytest.mark.parametrize("seed", [7, 8])
def test_a_campaign_larger_than_max_bucket_is_still_grouped(seed: int) -> None:
    data = traffic(seed, groups=((120, 30),), n_independent=400, jitter=3)
    pairs = lockstep_pairs(data.account, data.t, data.key, max_bucket=50)
    label = lockstep_groups(pairs, data.n_accounts)
    assert (label[data.groups[0]] == 0).all()
    assert (label[data.independent] == -1).all()


# Small cases -----------------------------------------------------------------------------


def test_empty_input() -> None:
    none = np.zeros(0, dtype=np.int64)
    pairs = lockstep_pairs(none, none, none)
    assert pairs.a.size == pairs.b.size == pairs.together.size == pairs.jaccard.size == 0
    assert pairs.jaccard.dtype == np.float64
    assert lockstep_groups(pairs, 0).size == 0
    assert lockstep_groups(pairs, 3).tolist() == [-1, -1, -1]


def test_a_single_account() -> None:
    t = np.arange(0, 6000, 10, dtype=np.int64)
    pairs = lockstep_pairs(np.full(t.size, 4, dtype=np.int64), t, t % 3)
    assert pairs.a.size == 0
    assert lockstep_groups(pairs, 5).tolist() == [-1] * 5


def test_order_and_repeated_exchanges_change_nothing() -> None:
    data = traffic(9, groups=((6, 20), (4, 20)), n_independent=50)
    pairs = as_dict(lockstep_pairs(data.account, data.t, data.key))
    order = np.random.default_rng(9).permutation(data.account.size)
    twice = np.concatenate([order, order[::2]])
    again = as_dict(lockstep_pairs(data.account[twice], data.t[twice], data.key[twice]))
    assert again == pairs
    assert len(pairs) >= 15 + 6


def test_counting_only_frequent_pairs_loses_none() -> None:
    # Past 65,536 matches (the first group alone makes 78,000), pairs that match too
    # rarely are dropped before the exact count (a count-min sketch). Without a floor
    # nothing is dropped: the two must agree.
    data = traffic(11, groups=((40, 100), (12, 30)), n_independent=300, keys=20)
    everything = lockstep_pairs(data.account, data.t, data.key, min_together=1)
    frequent = as_dict(lockstep_pairs(data.account, data.t, data.key, min_together=3))
    assert frequent == {pair: v for pair, v in as_dict(everything).items() if v[0] >= 3}
    assert len(frequent) >= 40 * 39 // 2 + 12 * 11 // 2


def test_result_is_sorted_and_bounded() -> None:
    data = traffic(10, groups=((10, 20), (6, 10)), n_independent=100, keys=5)
    pairs = lockstep_pairs(data.account, data.t, data.key, min_together=1)
    packed = pairs.a * data.n_accounts + pairs.b
    assert (np.diff(packed) > 0).all()
    assert (pairs.a < pairs.b).all()
    assert ((pairs.jaccard > 0) & (pairs.jaccard <= 1)).all()
    windows = np.bincount(
        np.unique(data.account * DAY + data.t // 60) // DAY, minlength=data.n_accounts
    )
    assert (pairs.together <= np.minimum(windows[pairs.a], windows[pairs.b])).all()
    assert pairs.together.dtype == np.int64


@pytest.mark.parametrize(
    ("arguments", "options", "message"),
    [
        ((ints(0, 1), ints(0), ints(0, 1)), {}, "same length"),
        ((ints(0, -1), ints(0, 0), ints(0, 0)), {}, "account indices"),
        ((ints(0, 2**31), ints(0, 0), ints(0, 0)), {}, "account indices"),
        ((np.array([0.5]), ints(0), ints(0)), {}, "account must be integers"),
        ((ints(0), np.array([[0]]), ints(0)), {}, "t must be 1-D"),
        ((ints(0), ints(0), ints(0)), {"window": 0}, "window"),
        ((ints(0), ints(0), ints(0)), {"min_together": 0}, "min_together"),
        ((ints(0), ints(0), ints(0)), {"max_bucket": 1}, "max_bucket"),
    ],
)
def test_bad_input_is_refused(
    arguments: tuple[Ints, Ints, Ints], options: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        lockstep_pairs(*arguments, **options)  # type: ignore[arg-type]


# Groups ------------------------------------------------------------------------------------


def pairs_of(*rows: tuple[int, int, int, float]) -> Lockstep:
    a, b, n, j = zip(*rows, strict=True)
    return Lockstep(ints(*a), ints(*b), ints(*n), np.array(j, dtype=np.float64))


def test_groups_are_components_of_strong_pairs() -> None:
    pairs = pairs_of((0, 1, 5, 0.5), (1, 2, 3, 0.1), (4, 5, 9, 0.9), (6, 7, 3, 0.19))
    assert lockstep_groups(pairs, 9).tolist() == [0, 0, -1, -1, 1, 1, -1, -1, -1]
    assert lockstep_groups(pairs, 9, min_jaccard=0.05).tolist() == [0, 0, 0, -1, 1, 1, 2, 2, -1]
    assert lockstep_groups(pairs, 9, min_jaccard=0.05, min_size=3).tolist() == [
        0,
        0,
        0,
        -1,
        -1,
        -1,
        -1,
        -1,
        -1,
    ]


def test_group_labels_follow_the_smallest_account() -> None:
    pairs = pairs_of((1, 8, 3, 0.5), (0, 9, 3, 0.5), (2, 3, 3, 0.5))
    assert lockstep_groups(pairs, 10).tolist() == [0, 1, 2, 2, -1, -1, -1, -1, 1, 0]


def test_groups_refuse_bad_options() -> None:
    pairs = pairs_of((0, 3, 3, 0.5))
    with pytest.raises(ValueError, match="beyond n_accounts"):
        lockstep_groups(pairs, 3)
    with pytest.raises(ValueError, match="min_size"):
        lockstep_groups(pairs, 4, min_size=1)
    with pytest.raises(ValueError, match="n_accounts"):
        lockstep_groups(pairs_of((0, 1, 3, 0.5)), -1)


# Against brute force -----------------------------------------------------------------------


def reference(
    account: list[int], t: list[int], key: list[int], window: int, min_together: int
) -> dict[tuple[int, int], tuple[int, float]]:
    """The definition, pair by pair: each account's windows in which the other acted on
    the same key in the same or an adjacent window; the pair keeps the smaller count."""
    windows: dict[int, set[int]] = defaultdict(set)
    acts: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for a, moment, k in zip(account, t, key, strict=True):
        windows[a].add(moment // window)
        acts[a].add((k, moment // window))

    def matched(mine: int, other: int) -> int:
        return len({w for k, w in acts[mine] if any((k, w + d) in acts[other] for d in (-1, 0, 1))})

    out = {}
    for a, b in itertools.combinations(sorted(windows), 2):
        together = min(matched(a, b), matched(b, a))
        if together >= min_together:
            union = len(windows[a]) + len(windows[b]) - together
            out[a, b] = (together, together / union)
    return out


exchanges = st.lists(
    st.tuples(st.integers(0, 7), st.integers(-400, 900), st.integers(0, 2)), max_size=60
)


@settings(max_examples=300, deadline=None)
@given(exchanges, st.sampled_from([1, 30, 60, 200]), st.integers(1, 3))
def test_pairs_match_the_definition(
    rows: list[tuple[int, int, int]], window: int, min_together: int
) -> None:
    account = [a for a, _, _ in rows]
    t = [moment for _, moment, _ in rows]
    key = [k for _, _, k in rows]
    pairs = lockstep_pairs(
        np.array(account, dtype=np.int64),
        np.array(t, dtype=np.int64),
        np.array(key, dtype=np.int64),
        window=window,
        min_together=min_together,
        max_bucket=8,  # never sampled: at most 8 accounts
    )
    want = reference(account, t, key, window, min_together)
    got = as_dict(pairs)
    assert got.keys() == want.keys()
    for pair, (together, jaccard) in want.items():
        assert got[pair][0] == together
        assert got[pair][1] == pytest.approx(jaccard)


@settings(max_examples=200, deadline=None)
@given(exchanges, st.integers(2, 5))
def test_sampling_only_ever_drops_evidence(rows: list[tuple[int, int, int]], cap: int) -> None:
    account = [a for a, _, _ in rows]
    t = [moment for _, moment, _ in rows]
    key = [k for _, _, k in rows]
    arrays = (np.array(account, dtype=np.int64), np.array(t, dtype=np.int64))
    pairs = lockstep_pairs(*arrays, np.array(key, dtype=np.int64), max_bucket=cap, min_together=1)
    want = reference(account, t, key, 60, 1)
    for pair, (together, jaccard) in as_dict(pairs).items():
        assert pair in want
        assert together <= want[pair][0]
        assert jaccard <= want[pair][1] + 1e-12
