"""What the report's figures and tables share: display orders, level labels, the missing note."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "CI_LEVEL",
    "MODEL_ORDER",
    "NOT_IN_RUN",
    "POLICY_ORDER",
    "REGIME_ORDER",
    "SCENARIO_ORDER",
    "TEST_ORDER",
    "level_label",
    "ordered",
]

#: Confidence level of the execution shortfall intervals.
CI_LEVEL = 0.99
#: What the page says where a run has no rows for a figure or table.
NOT_IN_RUN = "Not in this run"

SCENARIO_ORDER = ("forward", "crisis", "flash_crash")
POLICY_ORDER = ("twap", "vwap", "almgren_chriss", "adaptive_ac", "rl")
REGIME_ORDER = ("calm", "stressed", "switching")
TEST_ORDER = (
    "kupiec",
    "christoffersen_independence",
    "christoffersen_cc",
    "traffic_light",
    "acerbi_szekely",
)
MODEL_ORDER = ("engine", "ewma", "historical")


def ordered(found: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """``found`` in the order of ``preferred``, the rest sorted after it.

    >>> ordered(["rl", "zeta", "twap", "alpha"], ["twap", "vwap", "rl"])
    ['twap', 'rl', 'alpha', 'zeta']
    """
    found = set(found)
    return [x for x in preferred if x in found] + sorted(found - set(preferred))


def level_label(level: float) -> str:
    """A confidence level as people write it.

    >>> level_label(0.99), level_label(0.975)
    ('99%', '97.5%')
    """
    return f"{level * 100:g}%"
