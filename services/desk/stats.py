"""The Beta distribution the negotiators' chances are drawn from: its mean and its quantiles
(the regularized incomplete beta function, by Lentz's continued fraction, and its inverse by
bisection). Pure; a hand-written dozen lines instead of a dependency on SciPy for one function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TINY = 1e-300
_EPSILON = 1e-12
_MAX_TERMS = 300


@dataclass(frozen=True)
class Beta:
    """Beta(a, b): `a` counts the wins (prior included), `b` the losses."""

    a: float
    b: float

    def __post_init__(self) -> None:
        if not (self.a > 0 and self.b > 0):
            raise ValueError(f"Beta needs a > 0 and b > 0, not {self.a}, {self.b}")

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    def cdf(self, x: float) -> float:
        return regularized_incomplete_beta(x, self.a, self.b)

    def quantile(self, p: float, precision: float = 1e-5) -> float:
        """The x with cdf(x) = p, to `precision` (a hundredth of a percentage point)."""
        if not 0 <= p <= 1:
            raise ValueError(f"a probability is between 0 and 1, not {p}")
        low, high = 0.0, 1.0
        while high - low > precision:
            middle = (low + high) / 2
            if self.cdf(middle) < p:
                low = middle
            else:
                high = middle
        return (low + high) / 2

    def interval(self, mass: float = 0.9) -> tuple[float, float]:
        """The equal-tailed credible interval holding `mass` of the distribution."""
        tail = (1 - mass) / 2
        return self.quantile(tail), self.quantile(1 - tail)


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b): the Beta(a, b) distribution function at x."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast on this side of the mean; the symmetry
    # I_x(a, b) = 1 - I_(1-x)(b, a) gives the other side.
    if x < (a + 1) / (a + b + 2):
        return front * _continued_fraction(x, a, b) / a
    return 1 - front * _continued_fraction(1 - x, b, a) / b


def _continued_fraction(x: float, a: float, b: float) -> float:
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > _TINY else _TINY)
            c = 1 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1) < _EPSILON:
            break
    return h
