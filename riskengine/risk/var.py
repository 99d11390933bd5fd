r"""Portfolio VaR and ES from a covariance forecast and a standardised innovation law.

For portfolio weights :math:`w` (fractions of portfolio value, signed), the
next period's return is :math:`R = w^\top r` with mean :math:`w^\top \mu` and
variance :math:`\sigma_p^2 = w^\top \Sigma w`. Writing
:math:`R = w^\top \mu + \sigma_p z` with :math:`z` of mean 0 and variance 1,

.. math::

    \mathrm{VaR}_a = -(w^\top\mu + \sigma_p q_a), \qquad
    \mathrm{ES}_a = -(w^\top\mu + \sigma_p \bar z_a),

with :math:`q_a` the :math:`a` quantile of :math:`z` and :math:`\bar z_a` its
mean below it, both from arch's distributions
(:func:`~riskengine.forecast.garch.innovation_quantile`). The law of
:math:`z` is the one a GARCH fitted to the equally weighted portfolio found
(Student-t or Hansen's skewed t): the market factor dominates a book's tail,
and one law per refit keeps the quantile and tail mean cached, so a VaR query
costs a dot product. For a single asset this is exactly the univariate model.
VaR and ES are positive loss fractions of portfolio value.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from riskengine._validation import as_float
from riskengine.forecast.garch import innovation_quantile, innovation_tail_mean

__all__ = ["Innovations", "portfolio_es", "portfolio_var"]


@dataclasses.dataclass(frozen=True)
class Innovations:
    """The standardised innovation law: ``dist`` in {"t", "skewt", "normal"} and its shape.

    >>> Innovations("normal").quantile(0.01)
    -2.326347874040841
    >>> round(Innovations("t", nu=5.0).quantile(0.01), 4)  # unit variance: fatter tail
    -2.6065
    """

    dist: str
    nu: float = math.inf
    lam: float = 0.0

    def __post_init__(self) -> None:
        if self.dist not in ("t", "skewt", "normal"):
            raise ValueError(f"dist: expected 't', 'skewt' or 'normal', got {self.dist!r}")

    def quantile(self, tail: float) -> float:
        if self.dist == "normal" or math.isinf(self.nu):
            return _normal_quantile(tail)
        return innovation_quantile(self.dist, self.nu, self.lam, tail)

    def tail_mean(self, tail: float) -> float:
        if self.dist == "normal" or math.isinf(self.nu):
            return -_normal_pdf(_normal_quantile(tail)) / tail
        return innovation_tail_mean(self.dist, self.nu, self.lam, tail)


def _normal_quantile(tail: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(tail))


def _normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _tail(level: float) -> float:
    return 1.0 - as_float(level, field="level", low=0.5, high=1.0, low_open=True, high_open=True)


def portfolio_var(
    weights: np.ndarray,
    covariance: np.ndarray,
    mean: np.ndarray,
    innovations: Innovations,
    level: float = 0.99,
) -> float:
    """One-period VaR at ``level`` as a positive loss fraction of portfolio value.

    >>> cov = np.array([[1e-4, 0.0], [0.0, 1e-4]])
    >>> round(portfolio_var(np.array([1.0, 0.0]), cov, np.zeros(2), Innovations("normal")), 6)
    0.023263
    """
    sigma = math.sqrt(max(float(weights @ covariance @ weights), 0.0))
    return -(float(weights @ mean) + sigma * innovations.quantile(_tail(level)))


def portfolio_es(
    weights: np.ndarray,
    covariance: np.ndarray,
    mean: np.ndarray,
    innovations: Innovations,
    level: float = 0.975,
) -> float:
    """One-period expected shortfall at ``level`` as a positive loss fraction.

    >>> cov = np.array([[1e-4]])
    >>> es = portfolio_es(np.array([1.0]), cov, np.zeros(1), Innovations("normal"), 0.975)
    >>> var = portfolio_var(np.array([1.0]), cov, np.zeros(1), Innovations("normal"), 0.975)
    >>> es > var
    True
    """
    sigma = math.sqrt(max(float(weights @ covariance @ weights), 0.0))
    return -(float(weights @ mean) + sigma * innovations.tail_mean(_tail(level)))
