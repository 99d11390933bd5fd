r"""Backtests of Value-at-Risk and Expected Shortfall forecasts.

Conventions, used by every function here:

- ``returns`` are the realised period returns (profits positive, losses
  negative); a *loss* is ``-return``.
- ``var`` and ``es`` are reported as **positive loss thresholds**: a 99 %
  one-day VaR of 0.02 means "a loss above 2 % should happen on 1 % of days".
- ``tail`` is the tail probability of the risk measure: ``tail=0.01`` for a
  99 % VaR, ``tail=0.025`` for the 97.5 % ES of the Basel FRTB. It is always
  called ``tail`` and always means the small number.
- An *exception* (or hit) on day ``t`` is ``loss_t > var_t``, i.e.
  ``-returns[t] > var[t]``; a loss exactly at the VaR is not an exception.

The tests:

- Kupiec (1995) proportion of failures (POF): is the exception rate ``tail``?
- Christoffersen (1998) independence: do exceptions cluster (a first-order
  Markov alternative)? And conditional coverage, the sum of both.
- Basel Committee (1996) traffic light: green / yellow / red zones from the
  cumulative binomial probability of the exception count in a 250-day window.
- Acerbi and Szekely (2014) :math:`Z_2`: does the ES forecast match the size of
  the tail losses?

Likelihood ratios use the convention :math:`0 \log 0 = 0`, so zero
exceptions, only exceptions, or no exception ever followed by another give
finite statistics instead of NaN. Formulas and references are in
``docs/scoring.md``.

The module is longer than most (about 800 lines) because it is one concept:
the tests, their result types, and the Student-t reference law a test's null
is simulated from (:func:`student_t_var_es`, :func:`sample_student_t_returns`)
all share the conventions above, and most of the length is doctests.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from scipy import stats
from scipy.special import xlogy

from riskengine._validation import as_float, as_int

__all__ = [
    "BASEL_PLUS_FACTORS",
    "Z2_CRITICAL_VALUES",
    "BacktestResult",
    "TrafficLight",
    "VaRBacktest",
    "acerbi_szekely_z2",
    "acerbi_szekely_z2_test",
    "basel_traffic_light",
    "basel_zones",
    "christoffersen_conditional_coverage",
    "christoffersen_independence",
    "kupiec_pof",
    "sample_student_t_returns",
    "student_t_var_es",
    "var_backtest",
    "var_exceptions",
]

Zone = Literal["green", "yellow", "red"]

#: Basel Committee (1996), table 2: plus factor added to the capital multiplier
#: of 3, by number of exceptions in 250 days at 99 %. Keys are exception counts;
#: 10 or more exceptions give 1.0 (red zone).
BASEL_PLUS_FACTORS: dict[int, float] = {
    0: 0.0,
    1: 0.0,
    2: 0.0,
    3: 0.0,
    4: 0.0,
    5: 0.40,
    6: 0.50,
    7: 0.65,
    8: 0.75,
    9: 0.85,
    10: 1.0,
}

#: Acerbi and Szekely (2014): thresholds of :math:`Z_2` for ``tail = 0.025``
#: and 250 observations, keyed by significance, proposed as fixed
#: traffic-light limits because they barely depend on the distribution:
#: ``Z2 <= -0.70`` rejects at 5 %, ``Z2 <= -1.8`` at 0.01 %. Our simulation
#: (400,000 histories each) gives 5 % quantiles of -0.70 (normal), -0.71
#: (t10), -0.74 (t5) and -0.82 (t3), and 0.01 % quantiles of -1.77 (normal)
#: and -1.98 (t5): stable at 5 %, less so far out in fat tails. For another
#: ``tail``, sample size or a fat-tailed null use :func:`acerbi_szekely_z2_test`.
Z2_CRITICAL_VALUES: dict[float, float] = {0.05: -0.70, 0.0001: -1.8}

# The Basel zones are cut by the cumulative binomial probability of the count:
# green while P(X <= k) < 95 %, red once P(X <= k) >= 99.99 %.
_YELLOW_FROM = 0.95
_RED_FROM = 0.9999


# ---------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class BacktestResult:
    """Outcome of one backtest: the statistic, its p-value and the counts behind it.

    Attributes
    ----------
    test : str
        Which test (``"kupiec_pof"``, ``"christoffersen_independence"``,
        ``"christoffersen_cc"``, ``"acerbi_szekely_z2"``).
    statistic : float
        Likelihood ratio (chi-squared tests) or :math:`Z_2`.
    p_value : float
        Asymptotic chi-squared p-value, or a Monte Carlo p-value for Z2.
    n : int
        Observations tested.
    exceptions : int
        Days with ``loss > var``.
    expected : float or None
        ``n * tail`` for the tests that know the tail probability.
    df : int or None
        Chi-squared degrees of freedom; None for a simulated p-value.
    transitions : tuple of int or None
        ``(n00, n01, n10, n11)``: counts of day-to-day transitions
        (``n01``: no exception followed by an exception), for the
        Christoffersen tests.
    """

    test: str
    statistic: float
    p_value: float
    n: int
    exceptions: int
    expected: float | None = None
    df: int | None = None
    transitions: tuple[int, int, int, int] | None = None

    def rejected(self, significance: float = 0.05) -> bool:
        """Whether the null hypothesis is rejected at ``significance``."""
        significance = as_float(
            significance, field="significance", low=0, high=1, low_open=True, high_open=True
        )
        return self.p_value < significance

    def summary(self) -> str:
        """One line: test, statistic, p-value and counts."""
        expected = "" if self.expected is None else f" (expected {self.expected:.1f})"
        return (
            f"{self.test}: statistic {self.statistic:.4f}, p-value {self.p_value:.4f}, "
            f"{self.exceptions} exceptions in {self.n}{expected}"
        )


@dataclasses.dataclass(frozen=True)
class TrafficLight:
    """Basel traffic-light outcome for one window.

    Attributes
    ----------
    zone : {"green", "yellow", "red"}
    exceptions : int
        Exceptions in the window.
    window : int
        Observations in the window (250 in the Basel framework).
    tail : float
        Tail probability of the VaR (0.01 in the Basel framework).
    expected : float
        ``window * tail``.
    cumulative_probability : float
        :math:`P(X \\le \\text{exceptions})` for :math:`X \\sim
        \\operatorname{Binomial}(\\text{window}, \\text{tail})`: the confidence
        with which an accurate model would show no more exceptions.
    plus_factor : float or None
        Increase of the capital multiplier from Basel's table (0 in green, up
        to 1 in red). Defined only for the Basel setting (250 days at 99 %);
        None otherwise.
    """

    zone: Zone
    exceptions: int
    window: int
    tail: float
    expected: float
    cumulative_probability: float
    plus_factor: float | None

    def summary(self) -> str:
        plus = "" if self.plus_factor is None else f", plus factor {self.plus_factor:.2f}"
        return (
            f"traffic light: {self.zone} ({self.exceptions} exceptions in the last "
            f"{self.window}, expected {self.expected:.1f}; cumulative probability "
            f"{self.cumulative_probability:.4%}{plus})"
        )


@dataclasses.dataclass(frozen=True)
class VaRBacktest:
    """Every VaR backtest on one series, as returned by :func:`var_backtest`.

    ``traffic_light`` is None when the series is shorter than the window.
    """

    tail: float
    n: int
    exceptions: int
    expected: float
    kupiec: BacktestResult
    independence: BacktestResult
    conditional_coverage: BacktestResult
    traffic_light: TrafficLight | None

    def passed(self, significance: float = 0.05) -> bool:
        """No rejection by Kupiec, Christoffersen independence or conditional coverage."""
        tests = (self.kupiec, self.independence, self.conditional_coverage)
        return not any(test.rejected(significance) for test in tests)

    def summary(self) -> str:
        lines = [
            f"VaR at tail {self.tail:g}: {self.exceptions} exceptions in {self.n} "
            f"(expected {self.expected:.1f})",
            "  " + self.kupiec.summary(),
            "  " + self.independence.summary(),
            "  " + self.conditional_coverage.summary(),
        ]
        if self.traffic_light is not None:
            lines.append("  " + self.traffic_light.summary())
        return "\n".join(lines)


# ---------------------------------------------------------------------- validation
# The shared ``as_array`` needs a known shape and prints every value when one
# is bad; backtest series have any length and run to thousands of values, so
# these helpers report only the first bad position.
def _series(value: object, *, field: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{field}: expected a 1-d array of numbers") from None
    if array.ndim != 1:
        raise ValueError(f"{field}: expected a 1-d array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{field}: empty")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{field}: must be finite, found {array[bad][0]} at index {int(np.argmax(bad))}"
        )
    return array


def _same_length(**arrays: np.ndarray) -> None:
    sizes = {name: array.size for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        names = ", ".join(sizes)
        raise ValueError(f"{names}: lengths differ ({sizes})")


def _hits(hits: object) -> np.ndarray:
    array = _series(hits, field="hits")
    if not np.all((array == 0) | (array == 1)):
        raise ValueError("hits: must be booleans or 0/1")
    return array.astype(bool)


def _tail(tail: object) -> float:
    return as_float(tail, field="tail", low=0, high=1, low_open=True, high_open=True)


def _chi2_result(
    test: str, statistic: float, df: int, hits: np.ndarray, **extra: object
) -> BacktestResult:
    # Rounding can leave a likelihood ratio at -1e-16 (or -0.0) when both fits
    # coincide; the statistic is non-negative by construction.
    statistic = float(statistic) if statistic > 0 else 0.0
    return BacktestResult(
        test=test,
        statistic=statistic,
        p_value=float(stats.chi2.sf(statistic, df)),
        n=int(hits.size),
        exceptions=int(hits.sum()),
        df=df,
        **extra,
    )


# ---------------------------------------------------------------------- exceptions
def var_exceptions(returns: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Days on which the loss exceeded the VaR: ``-returns > var``.

    Parameters
    ----------
    returns : array of float
        Realised returns, oldest first.
    var : array of float
        VaR forecast for each of those days, made the day before, as a
        positive loss threshold.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> var_exceptions([0.01, -0.03, -0.02], [0.02, 0.02, 0.02]).tolist()
    [False, True, False]
    """
    returns = _series(returns, field="returns")
    var = _series(var, field="var")
    _same_length(returns=returns, var=var)
    return -returns > var


# ---------------------------------------------------------------------- coverage
def _pof_statistic(n: int, exceptions: int, tail: float) -> float:
    observed = exceptions / n
    null = xlogy(exceptions, tail) + xlogy(n - exceptions, 1.0 - tail)
    fitted = xlogy(exceptions, observed) + xlogy(n - exceptions, 1.0 - observed)
    return -2.0 * float(null - fitted)


def kupiec_pof(hits: np.ndarray, tail: float) -> BacktestResult:
    r"""Kupiec (1995) proportion-of-failures test of unconditional coverage.

    .. math::

        LR_{POF} = -2 \log \frac{(1-p)^{n-x} p^x}{(1-\hat p)^{n-x} \hat p^x}
            \sim \chi^2_1, \qquad \hat p = x / n,

    with ``p = tail``, ``x`` exceptions in ``n`` days. Two-sided: too many and
    too few exceptions both reject.

    Parameters
    ----------
    hits : array of bool or 0/1
        Exception indicators, e.g. from :func:`var_exceptions`.
    tail : float
        Tail probability of the VaR, in (0, 1).

    Examples
    --------
    >>> hits = np.zeros(250, dtype=bool)
    >>> hits[:5] = True
    >>> result = kupiec_pof(hits, tail=0.01)
    >>> round(result.statistic, 4), round(result.p_value, 4), result.expected
    (1.9568, 0.1619, 2.5)
    >>> kupiec_pof(np.zeros(100), tail=0.01).statistic  # no exception: finite
    2.0100...
    """
    hits = _hits(hits)
    tail = _tail(tail)
    statistic = _pof_statistic(hits.size, int(hits.sum()), tail)
    return _chi2_result("kupiec_pof", statistic, 1, hits, expected=hits.size * tail)


# ---------------------------------------------------------------------- independence
def _transitions(hits: np.ndarray) -> tuple[int, int, int, int]:
    before, after = hits[:-1], hits[1:]
    n01 = int(np.sum(~before & after))
    n10 = int(np.sum(before & ~after))
    n11 = int(np.sum(before & after))
    return before.size - n01 - n10 - n11, n01, n10, n11


def _independence_statistic(n00: int, n01: int, n10: int, n11: int) -> float:
    # max(., 1) only guards empty rows, whose counts are zero, so 0 log 0 = 0
    # makes the unknown probability irrelevant instead of NaN.
    pi01 = n01 / max(n00 + n01, 1)
    pi11 = n11 / max(n10 + n11, 1)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    markov = xlogy(n00, 1 - pi01) + xlogy(n01, pi01) + xlogy(n10, 1 - pi11) + xlogy(n11, pi11)
    iid = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    return -2.0 * float(iid - markov)


def christoffersen_independence(hits: np.ndarray) -> BacktestResult:
    r"""Christoffersen (1998) test of independence against a first-order Markov chain.

    With :math:`n_{ij}` the number of days in state ``j`` after a day in
    state ``i`` (1 = exception), :math:`\pi_{01} = n_{01} / (n_{00} + n_{01})`,
    :math:`\pi_{11} = n_{11} / (n_{10} + n_{11})` and :math:`\pi` the overall
    exception rate over the same ``n - 1`` transitions,

    .. math::

        LR_{ind} = -2 \log \frac{(1-\pi)^{n_{00}+n_{10}} \pi^{n_{01}+n_{11}}}
            {(1-\pi_{01})^{n_{00}} \pi_{01}^{n_{01}} (1-\pi_{11})^{n_{10}} \pi_{11}^{n_{11}}}
            \sim \chi^2_1.

    Without exceptions, or when no exception is followed by another, the
    statistic stays finite by :math:`0 \log 0 = 0`. It needs at least two days.

    Examples
    --------
    >>> spread = np.zeros(500, dtype=bool)
    >>> spread[::100] = True  # five isolated exceptions
    >>> round(christoffersen_independence(spread).p_value, 3)
    0.776
    >>> clustered = np.zeros(500, dtype=bool)
    >>> clustered[200:205] = True  # the same five, on consecutive days
    >>> christoffersen_independence(clustered).p_value < 1e-6
    True
    """
    hits = _hits(hits)
    if hits.size < 2:
        raise ValueError(f"hits: need at least 2 observations, got {hits.size}")
    counts = _transitions(hits)
    return _chi2_result(
        "christoffersen_independence",
        _independence_statistic(*counts),
        1,
        hits,
        transitions=counts,
    )


def christoffersen_conditional_coverage(hits: np.ndarray, tail: float) -> BacktestResult:
    r"""Christoffersen (1998) conditional coverage: exception rate and independence jointly.

    .. math::

        LR_{cc} = LR_{POF} + LR_{ind} \sim \chi^2_2.

    :math:`LR_{POF}` is Kupiec's statistic on all ``n`` days (the usual
    practice; Christoffersen's exact decomposition drops the first day, which
    changes nothing of substance).

    Examples
    --------
    >>> hits = np.zeros(1000, dtype=bool)
    >>> hits[::100] = True  # the expected 10, evenly spread
    >>> result = christoffersen_conditional_coverage(hits, tail=0.01)
    >>> result.df, round(result.p_value, 3)
    (2, 0.913)
    """
    hits = _hits(hits)
    tail = _tail(tail)
    if hits.size < 2:
        raise ValueError(f"hits: need at least 2 observations, got {hits.size}")
    counts = _transitions(hits)
    statistic = _pof_statistic(hits.size, int(hits.sum()), tail)
    statistic = max(statistic, 0.0) + max(_independence_statistic(*counts), 0.0)
    return _chi2_result(
        "christoffersen_cc",
        statistic,
        2,
        hits,
        expected=hits.size * tail,
        transitions=counts,
    )


# ---------------------------------------------------------------------- traffic light
def _zone_of(cumulative: np.ndarray) -> np.ndarray:
    return np.where(
        cumulative >= _RED_FROM, "red", np.where(cumulative >= _YELLOW_FROM, "yellow", "green")
    )


def _basel_setting(window: int, tail: float) -> bool:
    return window == 250 and tail == 0.01


def basel_traffic_light(hits: np.ndarray, window: int = 250, tail: float = 0.01) -> TrafficLight:
    """Basel Committee (1996) traffic light for the most recent ``window`` days.

    The zone follows from :math:`P(X \\le k)`, :math:`X \\sim
    \\operatorname{Binomial}(\\text{window}, \\text{tail})` and ``k``
    exceptions: green below 95 %, red from 99.99 %, yellow between. At 99 %
    over 250 days this is Basel's green 0-4, yellow 5-9, red 10 or more; the
    same rule serves any window and tail.

    Parameters
    ----------
    hits : array of bool or 0/1
        Exception indicators, oldest first; the last ``window`` are used.
    window : int
        Days in the window (Basel: 250).
    tail : float
        Tail probability of the VaR (Basel: 0.01).

    Examples
    --------
    >>> hits = np.zeros(300, dtype=bool)
    >>> hits[-5:] = True
    >>> light = basel_traffic_light(hits)
    >>> light.zone, light.exceptions, light.plus_factor
    ('yellow', 5, 0.4)
    >>> round(light.cumulative_probability, 4)
    0.9588
    """
    hits = _hits(hits)
    window = as_int(window, field="window", low=1)
    tail = _tail(tail)
    if hits.size < window:
        raise ValueError(f"hits: need at least window={window} observations, got {hits.size}")
    exceptions = int(hits[-window:].sum())
    cumulative = float(stats.binom.cdf(exceptions, window, tail))
    plus_factor = None
    if _basel_setting(window, tail):
        plus_factor = BASEL_PLUS_FACTORS[min(exceptions, 10)]
    return TrafficLight(
        zone=str(_zone_of(np.array(cumulative))),
        exceptions=exceptions,
        window=window,
        tail=tail,
        expected=window * tail,
        cumulative_probability=cumulative,
        plus_factor=plus_factor,
    )


def basel_zones(hits: np.ndarray, window: int = 250, tail: float = 0.01) -> np.ndarray:
    """Traffic-light zone of every complete ``window``-day window, oldest first.

    Element ``i`` is the zone of ``hits[i : i + window]``, so the result has
    ``len(hits) - window + 1`` entries and its last one is
    :func:`basel_traffic_light`'s zone.

    Examples
    --------
    >>> hits = np.zeros(260, dtype=bool)
    >>> hits[250:255] = True
    >>> zones = basel_zones(hits)
    >>> zones.size, zones[[0, -1]].tolist()
    (11, ['green', 'yellow'])
    """
    hits = _hits(hits)
    window = as_int(window, field="window", low=1)
    tail = _tail(tail)
    if hits.size < window:
        raise ValueError(f"hits: need at least window={window} observations, got {hits.size}")
    running = np.concatenate([[0], np.cumsum(hits)])
    counts = running[window:] - running[:-window]
    return _zone_of(stats.binom.cdf(counts, window, tail))


# ---------------------------------------------------------------------- expected shortfall
def _z2_inputs(
    returns: np.ndarray, var: np.ndarray, es: np.ndarray, tail: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    returns = _series(returns, field="returns")
    var = _series(var, field="var")
    es = _series(es, field="es")
    _same_length(returns=returns, var=var, es=es)
    if np.any(es <= 0):
        raise ValueError("es: must be > 0 (a positive loss threshold)")
    return returns, var, es, _tail(tail)


def _z2(returns: np.ndarray, var: np.ndarray, es: np.ndarray, tail: float) -> np.ndarray:
    # Works on one path (1-d) or many (n_paths, T): the sum is over the last axis.
    hits = -returns > var
    return np.sum(returns * hits / es, axis=-1) / (returns.shape[-1] * tail) + 1.0


def acerbi_szekely_z2(returns: np.ndarray, var: np.ndarray, es: np.ndarray, tail: float) -> float:
    r"""Acerbi and Szekely (2014) unconditional ES test statistic :math:`Z_2`.

    .. math::

        Z_2 = \sum_{t=1}^{T} \frac{X_t I_t}{T\, \alpha\, ES_t} + 1,
        \qquad I_t = 1[X_t + VaR_t < 0],

    with :math:`X_t` the return (P&L, negative for a loss), :math:`VaR_t` and
    :math:`ES_t` positive loss thresholds and :math:`\alpha` = ``tail``: the
    paper's own signs. If the ES is right, :math:`E[X_t I_t] = -\alpha ES_t`
    and :math:`E[Z_2] = 0`. **Negative values mean risk is underestimated**
    (tail losses larger than the ES, or more of them than ``tail``); positive
    values mean it is overestimated. Compare with :data:`Z2_CRITICAL_VALUES`
    (for ``tail = 0.025`` and ``T = 250``) or get a p-value from
    :func:`acerbi_szekely_z2_test`.

    Examples
    --------
    >>> returns = np.array([-0.03, 0.01, 0.0, -0.01])
    >>> var, es = np.full(4, 0.02), np.full(4, 0.03)
    >>> acerbi_szekely_z2(returns, var, es, tail=0.25)  # one hit, loss exactly ES
    0.0
    >>> acerbi_szekely_z2(returns * 2, var, es, tail=0.25) < 0  # losses too big
    True
    """
    returns, var, es, tail = _z2_inputs(returns, var, es, tail)
    return float(_z2(returns, var, es, tail))


def acerbi_szekely_z2_test(
    returns: np.ndarray,
    var: np.ndarray,
    es: np.ndarray,
    tail: float,
    null_returns: np.ndarray,
) -> BacktestResult:
    """:math:`Z_2` with a Monte Carlo p-value from returns simulated under the null.

    :math:`Z_2`'s distribution depends on the forecast distributions, so the
    p-value comes from simulation, as Acerbi and Szekely do: the caller draws
    ``null_returns`` from the very distributions that produced ``var`` and
    ``es`` (one row per simulated history; :func:`sample_student_t_returns`
    does this for Student-t forecasts from a seeded
    :class:`numpy.random.Generator`). The test is one-sided (small
    :math:`Z_2` rejects):

        p = (1 + #{simulated Z2 <= observed Z2}) / (1 + n_sims),

    the +1 keeping a Monte Carlo p-value valid (never exactly 0).

    Parameters
    ----------
    returns, var, es : array of float
        Realised returns and the day-before VaR and ES (positive losses).
    tail : float
        Tail probability of the VaR and ES.
    null_returns : array of float, shape (n_sims, len(returns))
        Histories simulated under the forecast distributions.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> var, es = student_t_var_es(np.full(250, 1e-4), np.inf, tail=0.025)
    >>> null = sample_student_t_returns(np.full(250, 1e-4), np.inf, 2000, rng)
    >>> calm = acerbi_szekely_z2_test(null[0], var, es, 0.025, null[1:])
    >>> calm.p_value > 0.05
    True
    >>> wild = acerbi_szekely_z2_test(null[0] * 1.8, var, es, 0.025, null[1:])
    >>> wild.statistic < Z2_CRITICAL_VALUES[0.05], wild.p_value < 0.05
    (True, True)
    """
    returns, var, es, tail = _z2_inputs(returns, var, es, tail)
    try:
        null_returns = np.asarray(null_returns, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("null_returns: expected an array of numbers") from None
    if null_returns.ndim != 2 or null_returns.shape[1] != returns.size or null_returns.shape[0] < 1:
        raise ValueError(
            f"null_returns: expected shape (n_sims, {returns.size}), got {null_returns.shape}"
        )
    if not np.all(np.isfinite(null_returns)):
        raise ValueError("null_returns: must all be finite")
    observed = float(_z2(returns, var, es, tail))
    simulated = _z2(null_returns, var, es, tail)
    p_value = (1.0 + np.sum(simulated <= observed)) / (1.0 + simulated.size)
    hits = -returns > var
    return BacktestResult(
        test="acerbi_szekely_z2",
        statistic=observed,
        p_value=float(p_value),
        n=int(returns.size),
        exceptions=int(hits.sum()),
        expected=returns.size * tail,
    )


# ---------------------------------------------------------------------- Student-t VaR / ES
def _per_day(value: object, shape: tuple[int, ...], field: str) -> np.ndarray:
    """A scalar or a per-day array of ``shape``, as float64, broadcast to ``shape``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{field}: expected a number or an array of numbers") from None
    if array.ndim != 0 and array.shape != shape:
        raise ValueError(f"{field}: expected a scalar or shape {shape}, got {array.shape}")
    return np.broadcast_to(array, shape)


def _nu(nu: object, shape: tuple[int, ...]) -> np.ndarray:
    array = _per_day(nu, shape, "nu")
    if np.any(np.isnan(array)) or np.any(array <= 2):
        raise ValueError("nu: must be > 2 (finite variance) or inf (Gaussian)")
    return array


def _mu(mu: object, shape: tuple[int, ...]) -> np.ndarray:
    array = _per_day(mu, shape, "mu")
    if not np.all(np.isfinite(array)):
        raise ValueError("mu: must be finite")
    return array


def _variance(variance: object) -> np.ndarray:
    array = _series(np.atleast_1d(variance), field="variance")
    if np.any(array <= 0):
        raise ValueError("variance: must be > 0")
    return array


def student_t_var_es(
    variance: np.ndarray, nu: float | np.ndarray, tail: float, mu: float | np.ndarray = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    r"""VaR and ES of ``r = mu + sqrt(variance) * z`` for a unit-variance Student-t ``z``.

    With :math:`q = t_\nu^{-1}(a)` (``a = tail``), :math:`f_\nu` the t density
    and :math:`s = \sqrt{(\nu - 2)/\nu}` the scale that gives ``z`` unit
    variance,

    .. math::

        VaR = -\mu + \sigma s |q|, \qquad
        ES = -\mu + \sigma s \, \frac{\nu + q^2}{\nu - 1} \, \frac{f_\nu(q)}{a},

    the closed form of :math:`-E[T \mid T \le q]` for :math:`T \sim t_\nu`.
    ``nu = inf`` gives the Gaussian: :math:`VaR = -\mu + \sigma z_a`,
    :math:`ES = -\mu + \sigma \varphi(z_a) / a`.

    Parameters
    ----------
    variance : array of float
        Variance forecasts of the returns (> 0).
    nu : float or array of float
        Degrees of freedom, > 2, or ``numpy.inf``; one per forecast or shared.
    tail : float
        Tail probability (0.01 for 99 % VaR).
    mu : float or array of float
        Mean return forecast.

    Returns
    -------
    var, es : numpy.ndarray
        Positive loss thresholds, one per forecast.

    Examples
    --------
    >>> var, es = student_t_var_es([1.0], np.inf, tail=0.01)  # standard normal
    >>> np.round([var[0], es[0]], 4).tolist()
    [2.3263, 2.6652]
    >>> var, es = student_t_var_es([1.0], 5.0, tail=0.01)  # fatter tail, same variance
    >>> np.round([var[0], es[0]], 4).tolist()
    [2.6065, 3.4488]
    """
    variance = _variance(variance)
    nu = _nu(nu, variance.shape)
    tail = _tail(tail)
    mu = _mu(mu, variance.shape)
    sigma = np.sqrt(variance)
    gaussian = np.isinf(nu)
    # A placeholder df keeps the t formulas finite where the Gaussian applies.
    df = np.where(gaussian, 3.0, nu)
    q_t = stats.t.ppf(tail, df)
    scale = np.sqrt((df - 2.0) / df)
    var_t = -q_t * scale
    es_t = scale * (df + q_t**2) / (df - 1.0) * stats.t.pdf(q_t, df) / tail
    z = stats.norm.ppf(tail)
    var_z = np.where(gaussian, -z, var_t)
    es_z = np.where(gaussian, stats.norm.pdf(z) / tail, es_t)
    return -mu + sigma * var_z, -mu + sigma * es_z


def sample_student_t_returns(
    variance: np.ndarray,
    nu: float | np.ndarray,
    n_paths: int,
    rng: np.random.Generator,
    mu: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Simulate ``n_paths`` histories from the forecasts ``mu + sqrt(variance) * z``.

    ``z`` is a unit-variance Student-t with ``nu`` degrees of freedom (a
    standard normal where ``nu`` is inf), independent across days and paths:
    the null distribution for :func:`acerbi_szekely_z2_test`.

    Returns
    -------
    numpy.ndarray, shape (n_paths, len(variance))

    Examples
    --------
    >>> paths = sample_student_t_returns(np.full(3, 4.0), 5.0, 100_000, np.random.default_rng(1))
    >>> paths.shape, round(float(paths.var()), 1)
    ((100000, 3), 4.0)
    """
    variance = _variance(variance)
    nu = _nu(nu, variance.shape)
    mu = _mu(mu, variance.shape)
    n_paths = as_int(n_paths, field="n_paths", low=1)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    shape = (n_paths, variance.size)
    gaussian = np.isinf(nu)
    df = np.where(gaussian, 3.0, nu)
    z_t = rng.standard_t(df, size=shape) * np.sqrt((df - 2.0) / df)
    z = np.where(gaussian, rng.standard_normal(size=shape), z_t)
    return mu + np.sqrt(variance) * z


# ---------------------------------------------------------------------- all at once
def var_backtest(
    returns: np.ndarray, var: np.ndarray, tail: float, window: int = 250
) -> VaRBacktest:
    """Exceptions, Kupiec, Christoffersen independence and conditional coverage, traffic light.

    The traffic light covers the last ``window`` days (None if the series is
    shorter) at this ``tail``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> returns = 0.01 * rng.standard_normal(1000)
    >>> var, _ = student_t_var_es(np.full(1000, 1e-4), np.inf, tail=0.01)
    >>> report = var_backtest(returns, var, tail=0.01)
    >>> report.exceptions, report.passed(), report.traffic_light.zone
    (14, True, 'green')
    """
    tail = _tail(tail)
    window = as_int(window, field="window", low=1)
    hits = var_exceptions(returns, var)
    light = basel_traffic_light(hits, window, tail) if hits.size >= window else None
    return VaRBacktest(
        tail=tail,
        n=int(hits.size),
        exceptions=int(hits.sum()),
        expected=hits.size * tail,
        kupiec=kupiec_pof(hits, tail),
        independence=christoffersen_independence(hits),
        conditional_coverage=christoffersen_conditional_coverage(hits, tail),
        traffic_light=light,
    )
