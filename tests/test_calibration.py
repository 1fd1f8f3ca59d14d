"""The mixture that turns a target false-positive rate into a threshold, on known mixtures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from distillguard.hunt.calibration import fit


def _sample(benign: int, attack: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.beta(1.2, 12.0, benign), rng.beta(9.0, 2.0, attack)])


@pytest.mark.parametrize(("benign", "attack"), [(900, 100), (500, 500), (300, 700)])
def test_the_mixture_recovers_the_customers_share(benign: int, attack: int) -> None:
    mixture = fit(_sample(benign, attack))
    assert mixture is not None
    share = mixture.weight[mixture.low]
    assert abs(share - benign / (benign + attack)) < 0.03


def test_the_threshold_leaves_the_target_share_of_customers() -> None:
    mixture = fit(_sample(2000, 500, seed=3))
    assert mixture is not None
    for target in (0.05, 0.01, 0.002):
        threshold = mixture.threshold_for(target)
        assert mixture.benign_sf(threshold) == pytest.approx(target, rel=1e-6)
        true = stats.beta.sf(threshold, 1.2, 12.0)  # the customers' real tail
        assert true < 4 * target
    assert mixture.threshold_for(0.002) > mixture.threshold_for(0.05)


def test_posteriors_are_probabilities_that_rise_with_risk() -> None:
    mixture = fit(_sample(800, 200, seed=5))
    assert mixture is not None
    grid = np.linspace(0.0, 1.0, 101)
    posterior = mixture.posterior(grid)
    assert np.all((posterior >= 0) & (posterior <= 1))
    assert posterior[5] < 0.05 and posterior[95] > 0.95


def test_too_few_accounts_give_no_fit() -> None:
    assert fit(np.array([0.1, 0.9, 0.5])) is None
