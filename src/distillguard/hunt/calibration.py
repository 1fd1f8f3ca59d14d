"""Calibration from the traffic itself: a two-component mixture over account risks.

Nobody labels production traffic, but its risks are not one population: most accounts are
customers near zero, and a campaign's accounts sit together higher up. A mixture of two
Beta distributions, fitted by expectation-maximisation (method-of-moments updates), splits
the risks into a lower component (customers) and an upper one. The lower component answers
the operating question: what share of customers would a threshold flag? That is the
estimated false-positive rate of an operating point, and its inverse turns a target rate
into a threshold.

The tails of a fitted Beta are an estimate, not a count: on simulated traffic the estimate
at the default operating point was within a factor of about four of the truth. Treat it as
the order of magnitude of the alert load on customers, and check it against labelled
examples (cases) where there are any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import stats

Array = npt.NDArray[np.float64]

ITERATIONS: Final = 200
EDGE: Final = 1e-4
"""Risks are clipped into [EDGE, 1 - EDGE]: a Beta density is infinite at 0 or 1."""
MIN_ACCOUNTS: Final = 20


@dataclass(frozen=True)
class Mixture:
    """Two Beta components; ``low`` is the customers' component."""

    weight: tuple[float, float]
    a: tuple[float, float]
    b: tuple[float, float]
    low: int

    def benign_sf(self, threshold: float) -> float:
        """Estimated share of customers at or above ``threshold``."""
        k = self.low
        return float(stats.beta.sf(threshold, self.a[k], self.b[k]))

    def threshold_for(self, fpr: float) -> float:
        """The risk above which an estimated ``fpr`` of customers lie."""
        k = self.low
        return float(stats.beta.isf(fpr, self.a[k], self.b[k]))

    def posterior(self, risk: Array) -> Array:
        """Probability that each risk belongs to the upper (campaign) component."""
        x = np.clip(risk, EDGE, 1.0 - EDGE)
        density = [self.weight[k] * stats.beta.pdf(x, self.a[k], self.b[k]) for k in range(2)]
        total = density[0] + density[1] + 1e-300
        return np.asarray(density[1 - self.low] / total, dtype=np.float64)


def fit(risk: Array) -> Mixture | None:
    """Fit the mixture to account risks; None when there are too few accounts to fit."""
    if risk.size < MIN_ACCOUNTS:
        return None
    x = np.clip(risk.astype(np.float64), EDGE, 1.0 - EDGE)
    weight = np.array([0.5, 0.5])
    a = np.array([1.0, 5.0])
    b = np.array([5.0, 1.0])
    for _ in range(ITERATIONS):
        density = np.stack([weight[k] * stats.beta.pdf(x, a[k], b[k]) for k in range(2)])
        share = density / (density.sum(axis=0) + 1e-300)
        weight = np.clip(share.mean(axis=1), 1e-6, 1.0)
        weight /= weight.sum()
        for k in range(2):
            mass = share[k].sum()
            if mass <= 1e-9:
                continue
            mean = float((share[k] * x).sum() / mass)
            var = max(float((share[k] * (x - mean) ** 2).sum() / mass), 1e-6)
            common = max(mean * (1.0 - mean) / var - 1.0, 1e-3)
            a[k] = max(mean * common, 0.05)
            b[k] = max((1.0 - mean) * common, 0.05)
    low = int(np.argmin(a / (a + b)))
    return Mixture(
        (float(weight[0]), float(weight[1])),
        (float(a[0]), float(a[1])),
        (float(b[0]), float(b[1])),
        low,
    )
