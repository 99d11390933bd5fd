r"""The Almgren-Chriss parameters of a book, as measured: :class:`ImpactEstimate`.

Plain data (floats and counts, no arrays), shared by the module that
measures it (:func:`riskengine.execution.impact.estimate_impact`) and the
schedules that use it (:meth:`AlmgrenChriss.from_estimate
<riskengine.execution.baselines.AlmgrenChriss.from_estimate>`), so that
neither of those two modules has to import the other for it.

Examples
--------
>>> [field.name for field in dataclasses.fields(ImpactEstimate)][:4]
['eta', 'gamma', 'sigma', 'half_spread']
"""

from __future__ import annotations

import dataclasses

__all__ = ["ImpactEstimate"]


@dataclasses.dataclass(frozen=True)
class ImpactEstimate:
    """Almgren-Chriss parameters of a book (currency units, lots, steps).

    Attributes
    ----------
    eta : float
        Temporary impact :math:`\\eta`, currency per lot per lot traded in the step.
    gamma : float
        Permanent impact :math:`\\gamma`, currency per lot traded.
    sigma : float
        Volatility of the undisturbed mid, currency per :math:`\\sqrt{\\text{step}}`.
    half_spread : float
        :math:`\\epsilon`, the fixed cost per lot of a market order (the
        temporary-impact regression's intercept), currency.
    quoted_half_spread : float
        The book's mean half spread when the probes were sent, currency.
    eta_stderr, gamma_stderr, sigma_stderr, half_spread_stderr, quoted_half_spread_stderr : float
        Standard errors (clustered by episode).
    temporary_r2, permanent_r2 : float
        :math:`R^2` of the two regressions.
    permanent_intercept : float
        :math:`c`, the mean own-mid move in a step without a trade (the
        drift left by earlier trades; near 0 when impact is permanent).
    n_episodes, n_probes : int
        Probe episodes, and steps with a trade.
    max_probe : int
        Largest probe, lots.
    probe_probability : float
        Probability of a probe at a step.
    tick_size : float
        Currency per tick, to read the numbers in ticks.
    """

    eta: float
    gamma: float
    sigma: float
    half_spread: float
    quoted_half_spread: float
    eta_stderr: float
    gamma_stderr: float
    sigma_stderr: float
    half_spread_stderr: float
    quoted_half_spread_stderr: float
    temporary_r2: float
    permanent_r2: float
    permanent_intercept: float
    n_episodes: int
    n_probes: int
    max_probe: int
    probe_probability: float
    tick_size: float

    def summary(self) -> dict[str, float]:
        """Every field, plus :math:`\\tilde\\eta = \\eta - \\gamma / 2` and the prices in ticks.

        >>> estimate = ImpactEstimate(
        ...     eta=0.002, gamma=0.001, sigma=0.01, half_spread=0.005, quoted_half_spread=0.006,
        ...     eta_stderr=0.0, gamma_stderr=0.0, sigma_stderr=0.0, half_spread_stderr=0.0,
        ...     quoted_half_spread_stderr=0.0, temporary_r2=0.5, permanent_r2=0.1,
        ...     permanent_intercept=0.0, n_episodes=256, n_probes=1000, max_probe=8,
        ...     probe_probability=0.25, tick_size=0.01,
        ... )
        >>> summary = estimate.summary()
        >>> round(summary["eta_tilde"], 6), round(summary["half_spread_ticks"], 6)
        (0.0015, 0.5)
        """
        out: dict[str, float] = dataclasses.asdict(self)
        out["eta_tilde"] = self.eta - self.gamma / 2.0
        for name in ("eta", "gamma", "sigma", "half_spread", "quoted_half_spread"):
            out[f"{name}_ticks"] = getattr(self, name) / self.tick_size
        return out
