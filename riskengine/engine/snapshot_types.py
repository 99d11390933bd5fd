"""What an engine snapshot may contain: the engine's allow-list for :mod:`riskengine.snapshot`.

:func:`register_engine_types` puts on the snapshot allow-list every class an
engine's state holds: the forecast and regime models and what they keep, the
order types, the pre-trade controls, the limit chain's states, the engine's
config and state, and the river classes the models use (with the functions
river's Page-Hinkley and Rust ``VectorDict`` need). It refuses river's ADWIN,
which cannot be restored exactly (below). :class:`~riskengine.engine.Engine`
calls it before every dump and load; call it yourself to snapshot a model on
its own (``snapshot.dumps(garch, kind=..., version=...)``).

**Why one list here, and not a decorator on each class.** The allow-list is a
security boundary: a snapshot can only rebuild what is on it. One file that
lists every class an engine snapshot may contain is what a reviewer reads to
audit that boundary, and the owner of that state (the engine) is who decides
it. It is also the one place that can list third-party classes (river's),
which cannot be decorated. Import order is safe: this module sits in the
engine layer, above everything it lists, and the generic codec below it
imports none of them. The defining modules stay free of serialisation code.

**Moved classes.** A snapshot names a class by ``module.qualname``. Classes
that moved keep their old names as aliases (``aliases=``), so snapshots
written before the move still load (:data:`MOVED`); new snapshots name them
where they are now.

**Not snapshotted: ADWIN.** ``river.drift.ADWIN``
(:class:`~riskengine.regime.DriftDetector`'s default ``method="adwin"``) keeps
its window in a Rust object, ``AdaptiveWindowing``, whose public API exposes
only the window's width, total, variance and detection count, not the bucket
histogram the next update continues from; the only way back in is handing
river's private binary blob to native code. Dumping it raises ``TypeError``;
use ``DriftDetector("page_hinkley")`` in an engine that must snapshot.

>>> register_engine_types()
>>> from riskengine.snapshot import registered_classes
>>> "riskengine.forecast.garch.OnlineGARCH" in registered_classes()
True
>>> "river.drift.adwin.ADWIN" in registered_classes()
False
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from river import compose, covariance, drift, linear_model, optim, preprocessing, stats
from river.optim.base import Initializer
from river.utils import VectorDict

from riskengine.engine import config as engine_config
from riskengine.engine import model_stack, return_window
from riskengine.engine import state as engine_state
from riskengine.forecast import dcc, ewma, ewma_covariance, garch, innovations, learned, shrinkage
from riskengine.regime import adaptation, bocpd, correlation_alarm, detector, hmm
from riskengine.regime import drift as regime_drift
from riskengine.risk import account, controls, execution_params, limits, orders, pretrade
from riskengine.snapshot import refuse, register
from riskengine.snapshot.registry import attribute_problem, is_registered

__all__ = ["MOVED", "register_engine_types"]

#: Classes that moved module: new home -> the names older snapshots use for them.
MOVED: dict[type, tuple[str, ...]] = {
    model_stack.RiskModels: ("riskengine.risk.model_stack.RiskModels",),
    model_stack.ModelConfig: (
        "riskengine.risk.model_stack.ModelConfig",
        "riskengine.engine.model_stack.ModelConfig",  # before engine/model_config.py (issue 13)
    ),
    innovations.Innovations: ("riskengine.risk.var.Innovations",),
    # riskengine/risk/limits.py became a package (issue 12).
    limits.Limits: ("riskengine.risk.limits.Limits",),
    limits.LimitInputs: ("riskengine.risk.limits.LimitInputs",),
    limits.EmptyState: ("riskengine.risk.limits.EmptyState",),
    limits.ChangepointState: ("riskengine.risk.limits.ChangepointState",),
    limits.SmoothState: ("riskengine.risk.limits.SmoothState",),
    limits.DynamicLimitsConfig: ("riskengine.risk.limits.DynamicLimitsConfig",),
}

_ADWIN_REASON = (
    "ADWIN cannot be snapshotted safely; use page_hinkley (DriftDetector('page_hinkley')). "
    "Its window lives in river's Rust AdaptiveWindowing, whose public API exposes only "
    "width, total, variance and n_detections, not the bucket histogram the next update "
    "continues from; restoring it would mean feeding river's private binary state to "
    "native code"
)

_lock = threading.Lock()
_registered = False


def _engine_classes() -> tuple[type, ...]:
    """Every class an engine snapshot holds, rebuilt from its ``__dict__``/``__slots__``."""
    return (
        # The models and every class found in their state.
        garch.OnlineGARCH,
        garch.GARCHParams,
        garch.RefitReport,
        innovations.Innovations,
        dcc.OnlineDCC,
        dcc.DCCParams,
        ewma.EWMAVol,
        ewma_covariance.EWMACovariance,
        learned.LearnedVolForecaster,
        learned.QLIKELoss,
        shrinkage.ShrunkEstimate,
        hmm.OnlineRegimeHMM,
        hmm.HMMParams,
        bocpd.BOCPD,
        correlation_alarm.CorrelationAlarm,
        regime_drift.DriftDetector,
        detector.RegimeSwitchDetector,
        adaptation.DriftAdaptedForecaster,
        # Orders, decisions and the gate.
        orders.Order,
        orders.Fill,
        orders.Decision,
        orders.ReasonCode,
        orders.TradingState,
        # The engine's own state: controls, model stack, limit-chain states, answers.
        controls.PreTradeControls,
        account.Account,
        pretrade.PreTradeGate,
        pretrade.HardLimits,
        model_stack.RiskModels,
        model_stack.ModelConfig,
        model_stack.PendingRefit,
        model_stack.RefitProposal,
        model_stack.RefitOutcome,
        return_window.ReturnWindow,
        dcc.DCCRefit,
        hmm.HMMRefit,
        limits.Limits,
        limits.LimitInputs,
        limits.EmptyState,
        limits.ChangepointState,
        limits.SmoothState,
        limits.DynamicLimitsConfig,
        execution_params.ExecutionParams,
        execution_params.ExecutionConfig,
        engine_config.EngineConfig,
        engine_state.RiskState,
        # river: what EWMACovariance, LearnedVolForecaster and Page-Hinkley hold.
        compose.Pipeline,
        covariance.ShrunkCovariance,
        linear_model.LinearRegression,
        optim.SGD,
        optim.schedulers.Constant,
        optim.initializers.Zeros,
        preprocessing.StandardScaler,
        stats.Mean,
    )


def register_engine_types() -> None:
    """Put every class an engine snapshot contains on the snapshot allow-list (idempotent).

    Classes already registered (by an integrator, with their own functions)
    are left as they are.
    """
    global _registered
    if _registered:
        return
    with _lock:
        if _registered:
            return
        for cls in _engine_classes():
            if not is_registered(cls):
                register(cls, aliases=MOVED.get(cls, ()))
        custom = (
            (drift.PageHinkley, *_page_hinkley_functions(drift.PageHinkley)),
            (VectorDict, *_vector_dict_functions(VectorDict, Initializer)),
        )
        for cls, to_state, from_state in custom:
            if not is_registered(cls):
                register(cls, to_state, from_state)
        refuse(drift.ADWIN, _ADWIN_REASON)
        refuse(type(drift.ADWIN()._helper), _ADWIN_REASON)  # the Rust AdaptiveWindowing
        _registered = True


def _page_hinkley_functions(cls: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """river's PageHinkley: its attributes less ``_test_drift``, the bound method ``mode`` picks."""
    tests = {"up": "_test_increase", "down": "_test_decrease", "both": "_test_both"}

    def to_state(page_hinkley: Any) -> dict[str, Any]:
        state = dict(vars(page_hinkley))
        test = state.pop("_test_drift", None)
        expected = tests.get(page_hinkley.mode)
        if (
            expected is None
            or getattr(test, "__self__", None) is not page_hinkley
            or getattr(test, "__func__", None) is not getattr(cls, expected)
        ):
            raise TypeError(f"_test_drift is not the test its mode {page_hinkley.mode!r} selects")
        return state

    def from_state(state: Any) -> Any:
        if not isinstance(state, dict):
            raise TypeError(f"expected a dict of attributes, got {type(state).__name__}")
        expected = tests.get(state.get("mode"))
        if expected is None:
            raise ValueError(f"mode: expected one of {sorted(tests)}, got {state.get('mode')!r}")
        for name in state:
            problem = attribute_problem(cls, name)
            if problem:
                raise ValueError(problem)
        page_hinkley = cls.__new__(cls)
        page_hinkley.__dict__.update(state)
        page_hinkley._test_drift = getattr(page_hinkley, expected)
        return page_hinkley

    return to_state, from_state


def _vector_dict_functions(
    cls: type, initializer: type
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """river's Rust VectorDict: its constructor arguments, keys in their order."""

    def to_state(vector: Any) -> dict[str, Any]:
        constructor, arguments = vector.__reduce__()[:2]  # dump side only: reads the data
        if constructor is not cls or len(arguments) != 4:
            raise TypeError("VectorDict.__reduce__ changed shape; update riskengine.engine")
        data, default_factory, mask, _copy = arguments
        return {"data": dict(data), "default_factory": default_factory, "mask": mask}

    def from_state(state: Any) -> Any:
        if not isinstance(state, dict) or set(state) != {"data", "default_factory", "mask"}:
            raise TypeError("expected {'data', 'default_factory', 'mask'}")
        data, default_factory, mask = state["data"], state["default_factory"], state["mask"]
        if not isinstance(data, dict) or not all(type(v) in (int, float) for v in data.values()):
            raise TypeError("data: expected a dict of numbers")
        if default_factory is not None and not isinstance(default_factory, initializer):
            raise TypeError("default_factory: expected None or a river initializer")
        if mask is not None and not isinstance(mask, (set, frozenset)):
            raise TypeError("mask: expected None or a set")
        return cls(data, default_factory, mask, True)

    return to_state, from_state
