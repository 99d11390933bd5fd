"""Trained execution policies as versioned artifacts: arrays + JSON, never pickle.

An artifact is a directory ``models/<policy_id>/`` holding

* ``weights.npz``: the network's arrays, one named entry per array
  (``actor.0.w``, ``critic.1.b``, ...), read back with ``allow_pickle=False``;
* ``card.json``: the model card: format version, architecture, action set,
  the training spec (the full ``[book]``/``[execution]`` tables, not just a
  name), the PPO config, seed, environment steps, software versions, the
  SHA-256 of ``weights.npz``, and the evaluation results;
* ``README.md``: the same card for people.

:func:`load_policy` checks the format version, the digest and every array's
shape before it builds a policy, and names what is wrong when it refuses.
Policies are looked up by id in :func:`models_directory` (``$RISKENGINE_MODELS``
or the repository's ``models/``). :func:`policy_for` gives the policy the
engine's execution parameters name: the engine hands out parameters, and which
object serves them is this layer's business.

Examples
--------
>>> import tempfile, jax
>>> from riskengine.execution.ppo import PPOPolicy, init_network
>>> policy = PPOPolicy(init_network(jax.random.key(0), (8,)))
>>> root = tempfile.mkdtemp()
>>> path = save_policy(policy, "demo_v1", {"seed": 0}, root=root)
>>> loaded = load_policy("demo_v1", root=root)
>>> bool((loaded.network["actor"][0]["w"] == policy.network["actor"][0]["w"]).all())
True
>>> load_policy("missing_v1", root=root)
Traceback (most recent call last):
FileNotFoundError: policy_id: no execution policy 'missing_v1' in ... (available: ['demo_v1'])
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from riskengine.engine.state import RiskState
from riskengine.errors import InvalidInput
from riskengine.execution.actions import ACTION_NAMES, N_ACTIONS
from riskengine.execution.env import N_OBS
from riskengine.execution.ppo import PPOPolicy
from riskengine.risk.execution_params import ExecutionParams

__all__ = [
    "CARD_FORMAT",
    "DEFAULT_POLICY_ID",
    "available_policies",
    "check_policy_id",
    "load_card",
    "load_policy",
    "models_directory",
    "policy_for",
    "resolve_policy",
    "save_policy",
    "weights_digest",
]

CARD_FORMAT = "riskengine.execution.ppo/1"
#: The trained policy ``rl`` refers to.
DEFAULT_POLICY_ID = "execution_ppo_v1"
MODELS_ENV = "RISKENGINE_MODELS"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def models_directory() -> Path:
    """``$RISKENGINE_MODELS`` if set, else the repository's ``models/``."""
    override = os.environ.get(MODELS_ENV)
    return Path(override) if override else Path(__file__).resolve().parents[2] / "models"


def _root(root: str | os.PathLike[str] | None) -> Path:
    return models_directory() if root is None else Path(root)


def check_policy_id(policy_id: Any) -> str:
    """``policy_id`` if it is a safe directory name (letters, digits, ``_.-``), else ValueError."""
    if not isinstance(policy_id, str) or not _ID.fullmatch(policy_id):
        raise ValueError(
            f"policy_id: expected letters, digits, '_', '.' or '-' (at most 100), got {policy_id!r}"
        )
    return policy_id


def available_policies(root: str | os.PathLike[str] | None = None) -> list[str]:
    """Ids of the execution policies stored under ``root``, sorted."""
    base = _root(root)
    if not base.is_dir():
        return []
    return sorted(p.parent.name for p in base.glob("*/card.json") if _is_policy(p))


def _is_policy(card: Path) -> bool:
    try:
        return json.loads(card.read_text(encoding="utf-8")).get("format") == CARD_FORMAT
    except (OSError, ValueError):
        return False


def _flatten(network: dict) -> dict[str, np.ndarray]:
    arrays = {}
    for part in ("actor", "critic"):
        for index, layer in enumerate(network[part]):
            for name in ("w", "b"):
                arrays[f"{part}.{index}.{name}"] = np.asarray(layer[name], dtype=np.float32)
    return arrays


def _architecture(network: dict) -> dict[str, Any]:
    hidden = [int(layer["w"].shape[1]) for layer in network["actor"][:-1]]
    return {"n_obs": N_OBS, "n_actions": N_ACTIONS, "hidden": hidden, "activation": "tanh"}


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _weights_bytes(policy: PPOPolicy) -> bytes:
    return _npz_bytes(_flatten(jax.device_get(policy.network)))


def weights_digest(policy: PPOPolicy) -> str:
    """SHA-256 of the ``weights.npz`` a policy is stored as (what cards record)."""
    return hashlib.sha256(_weights_bytes(policy)).hexdigest()


def save_policy(
    policy: PPOPolicy,
    policy_id: str,
    card: dict[str, Any],
    *,
    root: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``policy`` as artifact ``policy_id``; ``card`` adds training and evaluation facts.

    The files are written to a temporary directory and renamed into place, so
    a crash never leaves half an artifact.  Refuses to overwrite an existing
    artifact unless ``overwrite``.
    """
    check_policy_id(policy_id)
    if not isinstance(policy, PPOPolicy):
        raise TypeError(f"policy: expected a PPOPolicy, got {type(policy).__name__}")
    if not isinstance(card, dict):
        raise TypeError(f"card: expected a dict, got {type(card).__name__}")
    base = _root(root)
    target = base / policy_id
    if target.exists() and not overwrite:
        raise FileExistsError(f"policy_id: artifact {policy_id!r} already exists in {base}")
    weights = _weights_bytes(policy)
    full_card = {
        "format": CARD_FORMAT,
        "id": policy_id,
        "architecture": _architecture(policy.network),
        "actions": list(ACTION_NAMES),
        **card,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    staging = base / f".{policy_id}.staging"
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "weights.npz").write_bytes(weights)
    (staging / "card.json").write_text(json.dumps(full_card, indent=2) + "\n", encoding="utf-8")
    (staging / "README.md").write_text(_readme(full_card), encoding="utf-8")
    if target.exists():
        for child in target.iterdir():
            child.unlink()
        target.rmdir()
    staging.rename(target)
    return target


def load_card(policy_id: str, *, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The model card of ``policy_id`` (parsed ``card.json``)."""
    check_policy_id(policy_id)
    base = _root(root)
    path = base / policy_id / "card.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"policy_id: no execution policy {policy_id!r} in {base} "
            f"(available: {available_policies(base)})"
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: invalid JSON ({error})") from None
    if card.get("format") != CARD_FORMAT:
        raise ValueError(f"{path}: format: expected {CARD_FORMAT!r}, got {card.get('format')!r}")
    return card


def load_policy(
    policy_id: str, *, root: str | os.PathLike[str] | None = None, name: str = "rl"
) -> PPOPolicy:
    """Load a stored policy by id, checking its digest and every array's shape."""
    card = load_card(policy_id, root=root)
    path = _root(root) / policy_id / "weights.npz"
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != card.get("weights_sha256"):
        raise ValueError(
            f"{path}: weights_sha256: file digest {digest} does not match the card's "
            f"{card.get('weights_sha256')}"
        )
    architecture = card["architecture"]
    if architecture.get("n_obs") != N_OBS or architecture.get("n_actions") != N_ACTIONS:
        raise ValueError(
            f"{path}: architecture: built for {architecture.get('n_obs')} observations and "
            f"{architecture.get('n_actions')} actions; this version has {N_OBS} and {N_ACTIONS}"
        )
    sizes = [N_OBS, *architecture["hidden"]]
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        network: dict[str, list[dict[str, jax.Array]]] = {}
        for part, out in (("actor", N_ACTIONS), ("critic", 1)):
            layers = []
            widths = [*sizes, out]
            for index in range(len(widths) - 1):
                layer = {}
                for key, shape in (
                    ("w", (widths[index], widths[index + 1])),
                    ("b", (widths[index + 1],)),
                ):
                    entry = f"{part}.{index}.{key}"
                    if entry not in arrays.files:
                        raise ValueError(f"{path}: {entry}: missing array")
                    if arrays[entry].shape != shape:
                        raise ValueError(
                            f"{path}: {entry}: expected shape {shape}, got {arrays[entry].shape}"
                        )
                    layer[key] = jnp.asarray(arrays[entry], dtype=jnp.float32)
                layers.append(layer)
            network[part] = layers
    return PPOPolicy(network, name=name)


def _readme(card: dict[str, Any]) -> str:
    lines = [
        f"# Execution policy `{card['id']}`",
        "",
        "PPO policy (riskengine.execution.ppo) that works a parent order in the simulated",
        "limit order book. Load it with `riskengine.execution.load_policy"
        f"({card['id']!r})`; the machine-readable card is `card.json`.",
        "",
        "```json",
        json.dumps({k: v for k, v in card.items() if k not in ("actions",)}, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def resolve_policy(policy_id: str, *, root: str | os.PathLike[str] | None = None) -> Any:
    """The execution policy a :class:`~riskengine.risk.execution_params.ExecutionParams` names.

    ``"twap"`` and ``"vwap"`` are the static schedules; ``"rl"`` is
    :data:`DEFAULT_POLICY_ID`; any other id is a stored artifact.  The
    Almgren-Chriss baselines need impact parameters estimated for a scenario,
    so they come from :func:`riskengine.execution.workflow.standard_policies`.

    >>> resolve_policy("twap").name
    'twap'
    >>> resolve_policy("almgren_chriss")
    Traceback (most recent call last):
    ValueError: policy_id: 'almgren_chriss' needs impact parameters for a scenario; ...
    """
    from riskengine.execution.baselines import TWAP, VWAP

    if policy_id == "twap":
        return TWAP()
    if policy_id == "vwap":
        return VWAP()
    if policy_id in ("almgren_chriss", "adaptive_ac"):
        raise ValueError(
            f"policy_id: {policy_id!r} needs impact parameters for a scenario; use "
            "riskengine.execution.workflow.standard_policies(spec)"
        )
    return load_policy(DEFAULT_POLICY_ID if policy_id == "rl" else policy_id, root=root)


# Policies served by policy_for, per (models directory, id): an artifact is read,
# digest-checked and turned into arrays once per process, not once per order.
_SERVED: dict[tuple[Path, str], Any] = {}
_SERVED_LOCK = threading.Lock()


def policy_for(
    state_or_params: RiskState | ExecutionParams | None,
    policy_id: str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
) -> Any:
    """The execution policy to work orders with now: the one the state names, or ``policy_id``.

    ``policy_id`` defaults to the id in the execution parameters
    (``RiskState.execution.policy_id``, set by ``config.execution.policy_ids``
    per regime); see :func:`resolve_policy` for the ids (``"twap"``,
    ``"vwap"``, ``"rl"`` or a stored artifact under ``root``). Policies are
    cached per models directory and id, so the same id gives the same object.

    Parameters
    ----------
    state_or_params : RiskState, ExecutionParams or None
        The engine's state (``engine.state``, None before its first tick) or
        its execution parameters.
    policy_id : str, optional
        Overrides the id the state names.
    root : path, optional
        Where stored artifacts live (default :func:`models_directory`).

    Raises
    ------
    InvalidInput
        ``policy_id`` is not given and there is no state to read it from.
    ValueError, FileNotFoundError
        As :func:`resolve_policy`.

    Examples
    --------
    >>> policy_for(None, "twap").name
    'twap'
    >>> policy_for(None, "twap") is policy_for(None, "twap")
    True
    >>> policy_for(None)
    Traceback (most recent call last):
    riskengine.errors.InvalidInput: policy_id: no risk state yet: warm the engine up or name one
    """
    if policy_id is None:
        if state_or_params is None:
            raise InvalidInput("policy_id", "no risk state yet: warm the engine up or name one")
        if isinstance(state_or_params, RiskState):
            state_or_params = state_or_params.execution
        if not isinstance(state_or_params, ExecutionParams):
            raise InvalidInput(
                "state_or_params",
                f"expected a RiskState or ExecutionParams, got {type(state_or_params).__name__}",
            )
        policy_id = state_or_params.policy_id
    key = (_root(root), policy_id)
    with _SERVED_LOCK:
        if key not in _SERVED:
            _SERVED[key] = resolve_policy(policy_id, root=root)
        return _SERVED[key]
