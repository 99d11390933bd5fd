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
(:class:`~riskengine.forecast.innovations.Innovations`). The law of
:math:`z` is the one a GARCH fitted to the equally weighted portfolio found
(Student-t or Hansen's skewed t): the market factor dominates a book's tail,
and one law per refit keeps the quantile and tail mean cached, so a VaR query
costs a dot product. For a single asset this is exactly the univariate model.
VaR and ES are positive loss fractions of portfolio value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from riskengine._validation import as_float
from riskengine.forecast.innovations import Innovations

__all__ = ["portfolio_es", "portfolio_moments", "portfolio_var", "portfolio_var_es_path"]


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


def portfolio_moments(
    weights: np.ndarray, covariance: np.ndarray, mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Per-step mean :math:`w_t^\top\mu_t` and volatility :math:`\sigma_{p,t}` of a book.

    ``weights`` (T, N), ``covariance`` (T, N, N), ``mean`` (T, N) give (T,)
    each: the batch form of what :func:`portfolio_var` computes for one step.

    >>> cov = np.array([[[4e-4, 0.0], [0.0, 1e-4]]] * 2)
    >>> mu, sigma = portfolio_moments(np.array([[1.0, 0.0], [0.0, 1.0]]), cov, np.zeros((2, 2)))
    >>> sigma.tolist()
    [0.02, 0.01]
    """
    sigma = np.sqrt(np.maximum(np.einsum("ti,tij,tj->t", weights, covariance, weights), 0.0))
    return np.sum(weights * mean, axis=1), sigma


def portfolio_var_es_path(
    weights: np.ndarray,
    covariance: np.ndarray,
    mean: np.ndarray,
    innovations: Sequence[Innovations],
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES at ``level`` for every step of a history at once, (T,) each.

    Step ``t`` is :func:`portfolio_var` / :func:`portfolio_es` of ``weights[t]``
    with ``covariance[t]``, ``mean[t]`` and ``innovations[t]`` (a law per step;
    the laws change only at refits, so each distinct one is evaluated once).

    >>> cov = np.array([[[1e-4]]] * 3)
    >>> laws = [Innovations("normal")] * 3
    >>> var, es = portfolio_var_es_path(np.ones((3, 1)), cov, np.zeros((3, 1)), laws, 0.99)
    >>> var.round(6).tolist()
    [0.023263, 0.023263, 0.023263]
    >>> bool(np.all(es > var))
    True
    """
    tail = _tail(level)
    mu, sigma = portfolio_moments(weights, covariance, mean)
    laws = {law: (law.quantile(tail), law.tail_mean(tail)) for law in set(innovations)}
    quantile = np.array([laws[law][0] for law in innovations])
    tail_mean = np.array([laws[law][1] for law in innovations])
    return -(mu + sigma * quantile), -(mu + sigma * tail_mean)
