"""The jobs around training: refusals that must come before any training, and policy_for."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskengine.engine import Engine, EngineConfig
from riskengine.errors import InvalidInput
from riskengine.execution import baselines, policy_for, policy_store, workflow
from riskengine.execution.ppo import PPOConfig, PPOPolicy
from riskengine.risk.execution_params import ExecutionParams


def _never_train(*args, **kwargs):  # pragma: no cover - reaching it is the failure
    raise AssertionError("training started before the arguments were checked")


@pytest.mark.parametrize(
    ("spec", "policy_id", "error", "message"),
    [
        ("regime_switching", "execution_ppo_v1", FileExistsError, "already exists"),
        ("regime_switching", "../escape", ValueError, "policy_id"),
        ("calm", "fresh_v1", ValueError, "needs both a [book] and an [execution] section"),
    ],
)
def test_train_policy_refuses_before_training(
    monkeypatch: pytest.MonkeyPatch, spec: str, policy_id: str, error: type, message: str
) -> None:
    monkeypatch.setattr(workflow, "train", _never_train)
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        workflow.train_policy(spec, seed=0, config=PPOConfig(), policy_id=policy_id)


def test_scenario_tables_round_trip_through_a_card() -> None:
    tables = workflow.scenario_tables("regime_switching")
    scenario = workflow._scenario_from_tables(tables)
    assert workflow.scenario_tables(scenario) == tables


def test_the_stored_policy_loads_and_its_card_records_the_training() -> None:
    card = policy_store.load_card(policy_store.DEFAULT_POLICY_ID)
    assert card["scenario"]["name"] == "regime_switching"
    assert card["env_steps"] == PPOConfig.from_mapping(card["ppo"]).n_updates * 512 * 20
    assert card["evaluation"]["first_seed"] >= workflow.EVALUATION_FIRST_SEED
    assert isinstance(policy_store.load_policy(policy_store.DEFAULT_POLICY_ID), PPOPolicy)


def test_policy_for_serves_the_policy_an_engine_state_names(tmp_path: Path) -> None:
    engine = Engine(EngineConfig(assets=("A", "B")))
    with pytest.raises(InvalidInput, match="policy_id"):
        policy_for(engine.state)  # no state yet, and no id given
    assert isinstance(policy_for(engine.state, "twap"), baselines.TWAP)
    rl = policy_for(engine.state, "rl")
    assert isinstance(rl, PPOPolicy)
    assert policy_for(engine.state, "rl") is rl  # cached
    with pytest.raises(FileNotFoundError, match="policy_id"):
        policy_for(engine.state, "missing_v1", root=tmp_path)
    with pytest.raises(ValueError, match="impact parameters"):
        policy_for(engine.state, "almgren_chriss")
    # Without an id, the one the execution parameters name (per regime).
    params = ExecutionParams(1.0, 0.1, 0.5, "vwap")
    assert isinstance(policy_for(params), baselines.VWAP)
    with pytest.raises(InvalidInput, match="state_or_params"):
        policy_for("twap")


@pytest.mark.slow
def test_the_stored_policy_is_reproducible_from_its_card() -> None:
    # Six million environment steps: minutes, hence slow.  Bit-identity holds for the
    # JAX / XLA versions the card records on a CPU; a change of either may break it.
    report = workflow.reproduce_policy(policy_store.DEFAULT_POLICY_ID)
    assert report["identical"], report
