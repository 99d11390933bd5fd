r"""The standardised innovation law of a return model: quantiles, tail means, samples.

A GARCH return is :math:`r_t = \mu + \sqrt{h_t}\, z_t` with :math:`z_t` i.i.d.,
mean 0 and variance 1; a portfolio's is :math:`w^\top\mu + \sigma_p z`. Every
one-period risk number needs two functionals of the law of :math:`z`:

.. math::

    q_a = F_z^{-1}(a), \qquad
    \bar z_a = E[z \mid z \le q_a] = \frac{1}{a} \int_0^a F_z^{-1}(u)\, du,

so that :math:`\mathrm{VaR}_a = -(\mu + \sigma q_a)` and
:math:`\mathrm{ES}_a = -(\mu + \sigma \bar z_a)`. The laws are arch's own
standardised distributions: the Student-t (``dist="t"``, :class:`arch.univariate.StudentsT`,
tail parameter :math:`\nu`), Hansen's (1994) skewed t (``dist="skewt"``,
:class:`arch.univariate.SkewStudent`, :math:`\nu` and skewness
:math:`\lambda \in (-1, 1)`), and the normal (``dist="normal"``, or an infinite
:math:`\nu`).

The quantile is arch's ``ppf``; the tail mean integrates it by quadrature
(:func:`innovation_tail_mean`). Both are cached: parameters change only at a
refit, so the hot path never integrates. :meth:`Innovations.ppf` is the
vectorised quantile function, for simulating from the law (a backtest's null).
This module is the one place that maths lives: :mod:`riskengine.forecast.garch`
(one asset) and :mod:`riskengine.risk.var` (a portfolio) both use it.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from arch.univariate import SkewStudent, StudentsT
from scipy.integrate import quad
from scipy.special import ndtri

__all__ = ["Innovations", "arch_shape", "innovation_quantile", "innovation_tail_mean"]

# The standardised innovations, as arch defines them (mean 0, variance 1).
# ``ppf`` is a pure function of its arguments, so one instance of each serves all.
_DISTRIBUTIONS = {"t": StudentsT(), "skewt": SkewStudent()}

# u = tail * s**8 maps (0, tail) onto (0, 1) and turns the quantile's
# integrable singularity at u = 0 (ppf ~ -u**(-1/nu), nu > 2) into a zero,
# ~ s**(7 - 8/nu), which quad integrates to ~1e-12 relative or better.
_SUBSTITUTION_POWER = 8
# Below this probability the integrand is taken as 0: what it leaves out is
# below 1e-90 of the integral for any nu > 2, and scipy's extreme quantiles
# are not reliable there.
_SMALLEST_PROBABILITY = 1e-200


def arch_shape(dist: str, nu: float, lam: float) -> list[float]:
    """arch's shape parameters of a t or skewed-t innovation: ``[nu]`` or ``[eta, lambda]``.

    >>> arch_shape("skewt", 5.0, -0.1)
    [5.0, -0.1]
    """
    return [nu] if dist == "t" else [nu, lam]


@functools.lru_cache(maxsize=4096)
def innovation_quantile(dist: str, nu: float, lam: float, tail: float) -> float:
    """:math:`q_a = F_z^{-1}(a)` of the standardised t or skewed t, from arch's ``ppf``.

    >>> round(innovation_quantile("t", 5.0, 0.0, 0.01), 4)
    -2.6065
    """
    return float(_DISTRIBUTIONS[dist].ppf(tail, arch_shape(dist, nu, lam)))


@functools.lru_cache(maxsize=4096)
def innovation_tail_mean(dist: str, nu: float, lam: float, tail: float) -> float:
    r""":math:`E[z \mid z \le q_a] = a^{-1} \int_0^a F_z^{-1}(u)\, du` by quadrature.

    With :math:`u = a s^8` the integral is :math:`\int_0^1 8 s^7 F_z^{-1}(a s^8)\, ds`,
    whose integrand is finite on :math:`[0, 1]` and vanishes at 0. Hansen's skewed-t
    quantile has a kink at :math:`u = (1 - \lambda) / 2`; when that lies inside
    :math:`(0, a)` quad is told where. Cached: the parameters change only at a
    refit, so the hot path never integrates.

    >>> round(innovation_tail_mean("t", 5.0, 0.0, 0.025), 4)
    -2.7278
    """
    distribution, shape = _DISTRIBUTIONS[dist], arch_shape(dist, nu, lam)
    power = _SUBSTITUTION_POWER

    def integrand(s: float) -> float:
        u = tail * s**power
        if u < _SMALLEST_PROBABILITY:
            return 0.0
        return power * s ** (power - 1) * float(distribution.ppf(u, shape))

    kink = (1.0 - lam) / 2.0
    points = [(kink / tail) ** (1.0 / power)] if dist == "skewt" and kink < tail else None
    value, _ = quad(integrand, 0.0, 1.0, epsabs=0.0, epsrel=1e-11, limit=200, points=points)
    return float(value)


@dataclasses.dataclass(frozen=True)
class Innovations:
    """The standardised innovation law: ``dist`` in {"t", "skewt", "normal"} and its shape.

    ``nu`` is the tail parameter (infinite: the normal), ``lam`` the skewness
    of the skewed t. Frozen and hashable: one law per refit, so callers key
    caches by it.

    >>> Innovations("normal").quantile(0.01)
    -2.326347874040841
    >>> round(Innovations("t", nu=5.0).quantile(0.01), 4)  # unit variance: fatter tail
    -2.6065
    >>> Innovations("t", nu=5.0).ppf(np.array([0.01, 0.5])).round(4).tolist()
    [-2.6065, 0.0]
    """

    dist: str
    nu: float = math.inf
    lam: float = 0.0

    def __post_init__(self) -> None:
        if self.dist not in ("t", "skewt", "normal"):
            raise ValueError(f"dist: expected 't', 'skewt' or 'normal', got {self.dist!r}")

    @property
    def is_normal(self) -> bool:
        """True when the law is the standard normal (``dist="normal"`` or ``nu`` infinite)."""
        return self.dist == "normal" or math.isinf(self.nu)

    def quantile(self, tail: float) -> float:
        """:math:`q_a`, the ``tail`` quantile (cached per law and tail)."""
        if self.is_normal:
            return float(ndtri(tail))
        return innovation_quantile(self.dist, self.nu, self.lam, tail)

    def tail_mean(self, tail: float) -> float:
        r""":math:`\bar z_a`, the mean below the ``tail`` quantile (cached per law and tail)."""
        if self.is_normal:
            q = float(ndtri(tail))
            return -math.exp(-0.5 * q * q) / math.sqrt(2.0 * math.pi) / tail
        return innovation_tail_mean(self.dist, self.nu, self.lam, tail)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """The quantile function on an array of probabilities, vectorised (arch's ``ppf``)."""
        if self.is_normal:
            return ndtri(u)
        return _DISTRIBUTIONS[self.dist].ppf(u, arch_shape(self.dist, self.nu, self.lam))
