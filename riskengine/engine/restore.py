"""Checking an engine snapshot's payload against its own config before the engine adopts it.

:func:`riskengine.snapshot.loads` guarantees that a snapshot runs no code and
holds only allow-listed classes; it cannot know whether those objects fit
together. A payload can parse and still not be an engine: a key missing,
``config = 5``, a three-asset config spliced over two-asset state, or another
engine's config whose hard limits disagree with the ones its controls
enforce. :func:`restored_config` and :func:`check_payload` refuse each of
these with :class:`~riskengine.errors.InvalidSnapshot` naming the field
(``config.assets``, ``controls.limits``, ``pending[3]``, ``state.covariance``),
before :meth:`Engine.restore <riskengine.engine.Engine.restore>` builds
anything from it.

What they check: the keys; the config; that the models, the controls
(account and gate) and the limit chain's state are the right classes, for the
config's assets, shapes and sections (the controls enforce ``config.hard``, the
models run ``config.models``, the chain state has the structure of
``config.dynamic``'s chain); and the shapes of the prices, the pending warm-up
returns, the last limit inputs and the last state. They do not judge the
numbers a model learnt: a snapshot that someone else could have written
should be authenticated (an HMAC over the bytes) before it is loaded.

>>> restored_config({"config": 5})
Traceback (most recent call last):
riskengine.errors.InvalidSnapshot: snapshot: missing key(s) ['chain_state', ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from riskengine._time import MAX_NS, MIN_NS
from riskengine.engine.config import EngineConfig
from riskengine.engine.model_stack import RiskModels
from riskengine.engine.state import RiskState
from riskengine.errors import InvalidConfig, InvalidSnapshot
from riskengine.risk.account import Account
from riskengine.risk.controls import PreTradeControls
from riskengine.risk.limits import LimitInputs
from riskengine.risk.pretrade import PreTradeGate

__all__ = ["PAYLOAD_KEYS", "check_payload", "restored_config"]

#: What :meth:`Engine.snapshot <riskengine.engine.Engine.snapshot>` writes, and all of it.
PAYLOAD_KEYS = (
    "config",
    "models",
    "controls",
    "chain_state",
    "previous_chain_state",
    "last_inputs",
    "last_ns",
    "prices",
    "pending",
    "fit_error",
    "since_fit_attempt",
    "state",
)


def restored_config(payload: Any) -> EngineConfig:
    """The config of an engine payload: every key present, and a valid config mapping.

    Raises :class:`InvalidSnapshot` naming ``snapshot`` (not a payload, keys
    missing or unknown) or ``config.<field>`` (the config's own error).
    """
    if type(payload) is not dict:
        raise InvalidSnapshot("snapshot", f"not an engine snapshot (a {type(payload).__name__})")
    missing = sorted(set(PAYLOAD_KEYS) - set(payload))
    if missing:
        raise InvalidSnapshot("snapshot", f"missing key(s) {missing}")
    unknown = sorted(map(str, set(payload) - set(PAYLOAD_KEYS)))
    if unknown:
        raise InvalidSnapshot("snapshot", f"unknown key(s) {unknown}")
    table = payload["config"]
    if not isinstance(table, Mapping):
        raise InvalidSnapshot("config", f"expected a mapping, got {type(table).__name__}")
    try:
        return EngineConfig.from_mapping(table)
    except InvalidConfig as error:
        raise InvalidSnapshot(f"config.{error.field}", error.problem) from None
    except (TypeError, ValueError) as error:  # e.g. a section's key that is not a string
        raise InvalidSnapshot("config", str(error)) from None


def check_payload(payload: dict[str, Any], config: EngineConfig, chain_state: tuple) -> None:
    """Refuse a payload (from :func:`restored_config`) whose parts do not fit ``config``.

    ``chain_state`` is the initial state of ``config``'s limit chain: the
    structure the payload's chain states must have. Raises
    :class:`InvalidSnapshot` naming the first field that does not fit.
    """
    n = len(config.assets)
    _check_models(payload["models"], config)
    _check_controls(payload["controls"], config)
    for key in ("chain_state", "previous_chain_state"):
        _same_structure(payload[key], chain_state, key)
    inputs = payload["last_inputs"]
    if inputs is not None:
        _expect(inputs, LimitInputs, "last_inputs")
        _array(inputs.volatility, (n,), "last_inputs.volatility")
    last_ns = payload["last_ns"]
    if last_ns is not None and (type(last_ns) is not int or not MIN_NS <= last_ns <= MAX_NS):
        raise InvalidSnapshot("last_ns", f"expected None or int nanoseconds, got {last_ns!r}")
    _array(payload["prices"], (n,), "prices")
    pending = payload["pending"]
    if type(pending) is not list or len(pending) > config.models.min_obs:
        raise InvalidSnapshot(
            "pending", f"expected a list of at most {config.models.min_obs} return vectors"
        )
    for i, returns in enumerate(pending):
        _array(returns, (n,), f"pending[{i}]")
        if not np.isfinite(returns).all():
            raise InvalidSnapshot(f"pending[{i}]", "returns must be finite")
    if payload["fit_error"] is not None and type(payload["fit_error"]) is not str:
        raise InvalidSnapshot(
            "fit_error", f"expected None or a string, got {payload['fit_error']!r}"
        )
    since = payload["since_fit_attempt"]
    if type(since) is not int or since < 0:
        raise InvalidSnapshot("since_fit_attempt", f"expected an int >= 0, got {since!r}")
    if payload["state"] is not None:
        _check_state(payload["state"], config)


def _check_models(models: Any, config: EngineConfig) -> None:
    _expect(models, RiskModels, "models")
    problem = models.state_problem(len(config.assets), config.models)
    if problem is not None:
        raise InvalidSnapshot(f"models.{problem[0]}", problem[1])


def _check_controls(controls: Any, config: EngineConfig) -> None:
    _expect(controls, PreTradeControls, "controls")
    account, gate = getattr(controls, "account", None), getattr(controls, "gate", None)
    _expect(account, Account, "controls.account")
    _expect(gate, PreTradeGate, "controls.gate")
    if gate.account is not account:
        raise InvalidSnapshot("controls.gate.account", "is not the controls' account")
    if account.assets != config.assets:
        raise InvalidSnapshot(
            "controls.assets",
            f"the controls book {list(account.assets)}, the config lists {list(config.assets)}",
        )
    if gate.limits != config.hard:
        raise InvalidSnapshot(
            "controls.limits",
            f"the controls enforce {gate.limits!r}, the config's hard limits are {config.hard!r}",
        )
    for owner, part in (("account", account), ("gate", gate)):
        problem = part.state_problem()
        if problem is not None:
            raise InvalidSnapshot(f"controls.{owner}.{problem[0]}", problem[1])


def _check_state(state: Any, config: EngineConfig) -> None:
    _expect(state, RiskState, "state")
    n, k = len(config.assets), config.models.n_regimes
    if state.assets != config.assets:
        raise InvalidSnapshot(
            "state.assets", f"{list(state.assets)} are not the config's {list(config.assets)}"
        )
    for name, shape in (
        ("prices", (n,)),
        ("covariance", (n, n)),
        ("mean", (n,)),
        ("regime_proba", (k,)),
        ("positions", (n,)),
    ):
        _array(getattr(state, name), shape, f"state.{name}")
    limits = state.limits
    _array(limits.position, (n,), "state.limits.position")
    _array(limits.order, (n,), "state.limits.order")
    for name in ("gross", "net"):
        value = getattr(limits, name)
        if not isinstance(value, float) or math.isnan(value):
            raise InvalidSnapshot(f"state.limits.{name}", f"expected a float, got {value!r}")


def _expect(value: Any, cls: type, field: str) -> None:
    if not isinstance(value, cls):
        raise InvalidSnapshot(field, f"expected a {cls.__name__}, got {type(value).__name__}")


def _array(value: Any, shape: tuple[int, ...], field: str) -> None:
    if not isinstance(value, np.ndarray) or value.dtype != np.float64 or value.shape != shape:
        got = (
            f"{value.dtype} {value.shape}"
            if isinstance(value, np.ndarray)
            else type(value).__name__
        )
        raise InvalidSnapshot(field, f"expected a float64 array of shape {shape}, got {got}")


def _same_structure(value: Any, template: Any, field: str) -> None:
    """``value`` has ``template``'s types, lengths and array shapes, recursively."""
    if isinstance(template, np.ndarray):
        if not isinstance(value, np.ndarray) or value.shape != template.shape:
            raise InvalidSnapshot(field, f"expected an array of shape {template.shape}")
        return
    if isinstance(template, bool | int | float | np.number):
        if isinstance(value, bool) != isinstance(template, bool) or not isinstance(
            value, int | float | np.number
        ):
            raise InvalidSnapshot(field, f"expected a {type(template).__name__}, got {value!r}")
        return
    if type(value) is not type(template):
        raise InvalidSnapshot(
            field, f"expected a {type(template).__name__}, got {type(value).__name__}"
        )
    if isinstance(template, tuple | list):
        if len(value) != len(template):
            raise InvalidSnapshot(field, f"expected {len(template)} items, got {len(value)}")
        names = getattr(template, "_fields", None)
        for i, (item, expected) in enumerate(zip(value, template, strict=True)):
            _same_structure(item, expected, f"{field}.{names[i]}" if names else f"{field}[{i}]")
