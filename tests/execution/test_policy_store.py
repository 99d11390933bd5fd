"""Stored policies: arrays + JSON, checked on load, never unpickled, never silently overwritten."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from riskengine.execution import policy_store as store
from riskengine.execution.actions import ACTION_NAMES, N_ACTIONS
from riskengine.execution.env import N_OBS
from riskengine.execution.ppo import PPOPolicy, init_network


@pytest.fixture(scope="module")
def policy() -> PPOPolicy:
    return PPOPolicy(init_network(jax.random.key(0), (8,)))


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def _same_network(a: PPOPolicy, b: PPOPolicy) -> bool:
    la, lb = jax.tree.leaves(a.network), jax.tree.leaves(b.network)
    return jax.tree.structure(a.network) == jax.tree.structure(b.network) and all(
        np.asarray(x).tobytes() == np.asarray(y).tobytes() for x, y in zip(la, lb, strict=True)
    )


def _rewrite_weights(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Replace weights.npz and update the card's digest (a consistent but wrong artifact)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    (path / "weights.npz").write_bytes(data)
    card = json.loads((path / "card.json").read_text())
    card["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (path / "card.json").write_text(json.dumps(card))


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path / "weights.npz", allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("hidden", [(8,), (16, 4)])
def test_save_then_load_gives_the_same_policy(tmp_path: Path, hidden) -> None:
    policy = PPOPolicy(init_network(jax.random.key(1), hidden))
    path = store.save_policy(policy, "demo_v1", {"seed": 3, "note": "test"}, root=tmp_path)
    assert path == tmp_path / "demo_v1"
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "card.json", "weights.npz"]
    assert [p.name for p in tmp_path.iterdir()] == ["demo_v1"]  # no staging left behind
    loaded = store.load_policy("demo_v1", root=tmp_path, name="candidate")
    assert _same_network(loaded, policy) and loaded.name == "candidate"
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(5, N_OBS)), jnp.float32)
    keys = jax.random.split(jax.random.key(0), 5)
    np.testing.assert_array_equal(
        jax.vmap(loaded.action_index)(keys, obs), jax.vmap(policy.action_index)(keys, obs)
    )
    card = store.load_card("demo_v1", root=tmp_path)
    assert card["format"] == store.CARD_FORMAT and card["id"] == "demo_v1"
    assert card["architecture"] == {
        "n_obs": N_OBS,
        "n_actions": N_ACTIONS,
        "hidden": list(hidden),
        "activation": "tanh",
    }
    assert card["actions"] == list(ACTION_NAMES)
    assert (card["seed"], card["note"]) == (3, "test")
    assert card["weights_sha256"] == hashlib.sha256((path / "weights.npz").read_bytes()).hexdigest()
    assert store.available_policies(tmp_path) == ["demo_v1"]
    assert "demo_v1" in (path / "README.md").read_text()


def test_the_models_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: PPOPolicy
) -> None:
    monkeypatch.setenv(store.MODELS_ENV, str(tmp_path))
    assert store.models_directory() == tmp_path
    store.save_policy(policy, "env_v1", {})
    assert (tmp_path / "env_v1" / "card.json").is_file()
    assert _same_network(store.load_policy("env_v1"), policy)


def test_an_existing_artifact_is_not_overwritten_by_accident(
    tmp_path: Path, policy: PPOPolicy
) -> None:
    path = store.save_policy(policy, "kept_v1", {"seed": 0}, root=tmp_path)
    before = _files(path)
    other = PPOPolicy(init_network(jax.random.key(99), (8,)))
    with pytest.raises(FileExistsError, match="policy_id"):
        store.save_policy(other, "kept_v1", {"seed": 99}, root=tmp_path)
    assert _files(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["kept_v1"]
    assert _same_network(store.load_policy("kept_v1", root=tmp_path), policy)
    # Asked for explicitly, the replacement goes through.
    store.save_policy(other, "kept_v1", {"seed": 99}, root=tmp_path, overwrite=True)
    assert _same_network(store.load_policy("kept_v1", root=tmp_path), other)
    assert store.load_card("kept_v1", root=tmp_path)["seed"] == 99


# --------------------------------------------------------------------------- refusals
def test_a_tampered_weights_file_is_refused(tmp_path: Path, policy: PPOPolicy) -> None:
    path = store.save_policy(policy, "tampered_v1", {}, root=tmp_path)
    data = bytearray((path / "weights.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (path / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="weights_sha256"):
        store.load_policy("tampered_v1", root=tmp_path)


@pytest.mark.parametrize("card_format", ["riskengine.execution.ppo/0", None, "pickle"])
def test_a_card_of_another_format_is_refused(tmp_path: Path, policy: PPOPolicy, card_format):
    path = store.save_policy(policy, "old_v1", {}, root=tmp_path)
    card = json.loads((path / "card.json").read_text())
    card["format"] = card_format
    (path / "card.json").write_text(json.dumps(card))
    for load in (store.load_card, store.load_policy):
        with pytest.raises(ValueError, match="format"):
            load("old_v1", root=tmp_path)
    assert store.available_policies(tmp_path) == []


def test_a_card_that_is_not_json_is_refused(tmp_path: Path, policy: PPOPolicy) -> None:
    path = store.save_policy(policy, "broken_v1", {}, root=tmp_path)
    (path / "card.json").write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        store.load_card("broken_v1", root=tmp_path)


@pytest.mark.parametrize(
    ("entry", "change"),
    [
        ("actor.0.w", lambda a: a[:, :-1]),
        ("critic.1.b", lambda a: np.zeros((2,), np.float32)),
        ("actor.1.w", lambda a: a.T),
        ("critic.0.w", None),  # missing
    ],
)
def test_an_array_of_the_wrong_shape_is_refused_by_name(
    tmp_path: Path, policy: PPOPolicy, entry, change
) -> None:
    path = store.save_policy(policy, "shape_v1", {}, root=tmp_path)
    arrays = _arrays(path)
    if change is None:
        del arrays[entry]
    else:
        arrays[entry] = change(arrays[entry])
    _rewrite_weights(path, arrays)
    with pytest.raises(ValueError, match=entry.replace(".", r"\.")):
        store.load_policy("shape_v1", root=tmp_path)


def test_an_architecture_for_another_observation_is_refused(
    tmp_path: Path, policy: PPOPolicy
) -> None:
    path = store.save_policy(policy, "arch_v1", {}, root=tmp_path)
    card = json.loads((path / "card.json").read_text())
    card["architecture"]["n_obs"] = N_OBS + 1
    (path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="architecture"):
        store.load_policy("arch_v1", root=tmp_path)


class _RunsOnUnpickle:
    """An object whose unpickling creates a file: proof that pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_weights_holding_a_pickled_object_are_refused_unopened(
    tmp_path: Path, policy: PPOPolicy
) -> None:
    path = store.save_policy(policy, "pickle_v1", {}, root=tmp_path)
    sentinel = tmp_path / "pickle_ran"
    arrays = _arrays(path)
    payload = np.empty(arrays["actor.0.w"].shape, dtype=object)
    payload[...] = 0.0
    payload.flat[0] = _RunsOnUnpickle(str(sentinel))
    arrays["actor.0.w"] = payload
    _rewrite_weights(path, arrays)  # digest matches: only the loader stands in the way
    with pytest.raises(ValueError, match="pickle"):
        store.load_policy("pickle_v1", root=tmp_path)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    "policy_id", ["../x", "", "a/b", ".hidden", "-x", "x" * 101, 5, None, b"demo", "é"]
)
def test_invalid_ids_are_refused_by_name(tmp_path: Path, policy: PPOPolicy, policy_id) -> None:
    root = tmp_path / "models"
    for call in (
        lambda: store.save_policy(policy, policy_id, {}, root=root),
        lambda: store.load_policy(policy_id, root=root),
        lambda: store.load_card(policy_id, root=root),
    ):
        with pytest.raises(ValueError, match="policy_id"):
            call()
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


def test_an_id_with_a_trailing_newline_is_refused(tmp_path: Path, policy: PPOPolicy) -> None:
    with pytest.raises(ValueError, match="policy_id"):
        store.save_policy(policy, "demo\n", {}, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_wrong_arguments_are_refused(tmp_path: Path, policy: PPOPolicy) -> None:
    with pytest.raises(TypeError, match="policy"):
        store.save_policy(policy.network, "x_v1", {}, root=tmp_path)
    with pytest.raises(TypeError, match="card"):
        store.save_policy(policy, "x_v1", [("seed", 0)], root=tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="policy_id: no execution policy 'x_v1'"):
        store.load_policy("x_v1", root=tmp_path)
    assert store.available_policies(tmp_path / "nowhere") == []
