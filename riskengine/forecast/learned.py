r"""A learned volatility forecaster: river's online regression on HAR features, QLIKE loss.

Corsi's (2009) HAR model explains tomorrow's variance by the realised
variance over the last day, week and month; Corsi and Reno (2012) add the
leverage effect. Here river learns that map online, one observation at a
time, so ML and GARCH can be compared head to head on the same stream. With
:math:`v_t^{(w)}` the mean squared return over the last :math:`w` periods
(:math:`L` the longest window), the features known at :math:`t` are

.. math::

    \log \frac{v_t^{(w)}}{v_t^{(L)}} \ (w < L), \qquad \log v_t^{(L)}, \qquad
    \frac{\min(r_t, 0)}{\sqrt{v_t^{(L)}}},

plus any caller-supplied features known at :math:`t` (filtered regime
probabilities, order-book imbalance or spread), standardised online by
river's ``StandardScaler``. river's ``LinearRegression`` predicts
:math:`\eta_t` and the forecast is

.. math::

    \hat h_{t+1} = v_t^{(L)} \exp(\eta_t).

The regression is trained on the loss the forecast is judged by: QLIKE in
:math:`\eta` with target :math:`y = r_{t+1}^2 / v_t^{(L)}`,
:math:`\ell(y, \eta) = y e^{-\eta} + \eta - \log y - 1`, gradient
:math:`1 - y e^{-\eta}`. It is minimised by the conditional mean of the
squared return (Patton 2011), so no log-bias correction is needed, unlike a
least-squares fit to :math:`\log r^2`. A zero return is floored at
``floor_fraction`` times the monthly level.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from itertools import islice

import numpy as np
from river import compose, linear_model, optim, preprocessing

from riskengine._validation import as_float, as_int
from riskengine.base import OnlineModel, check_history, check_observation

__all__ = ["LearnedVolForecaster", "QLIKELoss"]


class QLIKELoss(optim.losses.RegressionLoss):
    """QLIKE of a log-variance prediction ``y_pred`` against a variance ratio ``y_true`` > 0.

    >>> loss = QLIKELoss()
    >>> loss(1.0, 0.0), loss.gradient(1.0, 0.0)  # a perfect forecast: no loss, no gradient
    (0.0, 0.0)
    >>> loss.gradient(4.0, 0.0) < 0  # under-forecast: the step raises the prediction
    True
    """

    def __call__(self, y_true: float, y_pred: float) -> float:
        return y_true * math.exp(-y_pred) + y_pred - math.log(y_true) - 1.0

    def gradient(self, y_true: float, y_pred: float) -> float:
        return 1.0 - y_true * math.exp(-y_pred)


class LearnedVolForecaster(OnlineModel):
    """HAR-style features, a river pipeline, a one-step variance forecast.

    Parameters
    ----------
    windows : tuple of int
        Realised-variance windows, shortest first; the longest sets the level
        the target is measured from (Corsi's 1, 5, 22 by default).
    learning_rate : float
        SGD step of river's linear regression (weights and intercept).
    l2 : float
        Ridge penalty of the regression.
    floor_fraction : float
        A squared return below this fraction of the monthly level counts as
        this fraction (the log of zero is undefined).
    min_obs : int
        Fewest returns :meth:`fit` accepts; until the longest window is full,
        :meth:`variance` is NaN.

    Examples
    --------
    >>> from arch.data import sp500
    >>> returns = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
    >>> model = LearnedVolForecaster().fit(returns[:1000])
    >>> calm = model.variance()
    >>> model.update(-0.05)  # a crash day raises the next forecast
    >>> model.variance() > calm
    True
    >>> model.update(0.001, features={"p_crisis": 0.9})  # extra features may join at any time
    """

    def __init__(
        self,
        windows: tuple[int, ...] = (1, 5, 22),
        learning_rate: float = 0.001,
        l2: float = 0.0,
        floor_fraction: float = 1e-3,
        min_obs: int = 250,
    ) -> None:
        windows = tuple(as_int(w, field=f"windows[{i}]", low=1) for i, w in enumerate(windows))
        if len(windows) < 2 or list(windows) != sorted(set(windows)):
            raise ValueError(f"windows: need two or more increasing lengths, got {windows}")
        self.windows = windows
        self.learning_rate = as_float(learning_rate, field="learning_rate", low=0, low_open=True)
        self.l2 = as_float(l2, field="l2", low=0)
        self.floor_fraction = as_float(
            floor_fraction, field="floor_fraction", low=0, high=1, low_open=True
        )
        self.min_obs = as_int(min_obs, field="min_obs", low=windows[-1] + 1)
        self._regression = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LinearRegression(
                optimizer=optim.SGD(self.learning_rate),
                loss=QLIKELoss(),
                l2=self.l2,
                intercept_lr=self.learning_rate,
            ),
        )
        self._squares: deque[float] = deque(maxlen=windows[-1])
        self._features: dict[str, float] | None = None  # known at t, for the forecast of t+1
        self._level = float("nan")  # v^(longest) at t
        self._predicted = float("nan")  # eta for t+1

    def fit(self, returns: np.ndarray) -> LearnedVolForecaster:
        """Start afresh and learn from ``returns`` one at a time (prequentially)."""
        array = check_history(returns, self.min_obs)
        fresh = self.clone()
        for value in array.tolist():
            fresh._learn(value, None)
        self.__dict__.update(fresh.__dict__)
        return self

    def update(self, x: float, features: Mapping[str, float] | None = None) -> None:
        """Learn from one return; ``features`` are extra inputs known now, for the next forecast."""
        value = check_observation(x)
        extra = None
        if features is not None:
            if not isinstance(features, Mapping):
                raise TypeError(f"features: expected a mapping, got {type(features).__name__}")
            extra = {str(k): as_float(v, field=f"features[{k!r}]") for k, v in features.items()}
        self._learn(value, extra)

    def _learn(self, value: float, extra: dict[str, float] | None) -> None:
        square = value * value
        if self._features is not None:
            ratio = max(square, self.floor_fraction * self._level) / self._level
            self._regression.learn_one(self._features, ratio)
        self._squares.append(square)
        longest = self.windows[-1]
        if len(self._squares) < longest:
            return
        level = sum(self._squares) / longest
        if level <= 0.0:  # a month without a price change: no scale to learn from
            self._features = None
            return
        floor = self.floor_fraction * level
        features = {
            f"log_rv_{longest}": math.log(level),
            "leverage": min(value, 0.0) / math.sqrt(level),
        }
        for window in self.windows[:-1]:
            recent = sum(islice(reversed(self._squares), window)) / window
            features[f"log_rv_{window}_vs_{longest}"] = math.log(max(recent, floor) / level)
        if extra:
            features.update(extra)
        self._features = features
        self._level = level
        self._predicted = self._regression.predict_one(features)

    def variance(self) -> float:
        """Forecast of the next return's variance (NaN until the longest window is full)."""
        if self._features is None:
            return float("nan")
        return self._level * math.exp(self._predicted)

    def forecast(self, horizon: int) -> np.ndarray:
        """Flat: the regression is trained for one step ahead only."""
        return np.full(as_int(horizon, field="horizon", low=1), self.variance())

    @property
    def weights(self) -> dict[str, float]:
        """The regression's current weights per (standardised) feature, and its intercept."""
        regression = self._regression["LinearRegression"]
        return {**regression.weights, "intercept": regression.intercept}
