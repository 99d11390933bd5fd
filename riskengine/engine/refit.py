"""Refits as data: what a refit needs, what it proposes, what it did, and one in flight.

A refit is split in two (docs/engine.md, "Refits in the background"): the
slow half, :func:`propose_refit`, is a function of a :class:`RefitJob` alone,
so it gives the same :class:`RefitProposal` in the worker process as inline;
the fast half, adopting it, is :class:`~riskengine.engine.model_stack.RiskModels`'s.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from riskengine.engine.model_config import ModelConfig
from riskengine.forecast import GARCHParams
from riskengine.forecast.dcc import DCCParams, DCCRefit
from riskengine.forecast.garch import RefitReport
from riskengine.regime.hmm import HMMParams, HMMRefit

__all__ = ["PendingRefit", "RefitJob", "RefitOutcome", "RefitProposal", "propose_refit"]


@dataclasses.dataclass(frozen=True, eq=False)
class RefitJob:
    """Everything a refit needs, as plain data: picklable, and copied once at launch."""

    config: ModelConfig
    returns: np.ndarray  # (T, N): the kept history when the refit was launched
    garch: tuple[GARCHParams, ...]  # warm starts
    dcc: DCCParams
    hmm: HMMParams
    weights: np.ndarray
    at_update: int


@dataclasses.dataclass(frozen=True, eq=False)
class RefitProposal:
    """What a refit estimated; ``error`` says why there is nothing (the worker failed)."""

    dcc: DCCRefit | None
    hmm: HMMRefit | None
    market: tuple[GARCHParams | None, RefitReport] | None
    error: str | None = None


def propose_refit(job: RefitJob) -> RefitProposal:
    """Estimate every model on ``job``: the slow half of a refit, run where the runner says.

    A function of the job alone (fresh models from the config, warm-started
    from the job's parameters), so it gives the same proposal in a worker
    process as inline. BLAS runs on one thread: a multithreaded BLAS sums in
    another order, the last bits of the likelihood differ, and the optimiser
    can stop elsewhere, so the thread count would change the parameters. It
    never raises: failures are in the proposal.
    """
    try:
        dcc, hmm, _, market = job.config.build(job.returns.shape[1])
        at = job.at_update
        with threadpool_limits(1):
            return RefitProposal(
                dcc.estimate_refit(job.returns, job.garch, job.dcc, at),
                hmm.estimate_refit(job.returns, job.hmm, at),
                # The portfolio's law is fitted afresh, as at warm-up.
                market.estimate(job.returns @ job.weights, None, at),
            )
    except Exception as error:  # a refit must never take the engine down with it
        return RefitProposal(None, None, None, f"{type(error).__name__}: {error}")


@dataclasses.dataclass(frozen=True)
class RefitOutcome:
    """One refit as a risk manager reads it: when, why, and what was (not) adopted.

    ``launched_at`` and ``adopted_at`` count the models' updates; ``late`` is
    how many updates after its due step the worker's result arrived (0 when
    on time). ``kept`` names each model that kept its old parameters, and why.
    """

    launched_at: int
    adopted_at: int
    trigger: str  # "schedule", "changepoint" or "explicit"
    late: int
    adopted: tuple[str, ...]
    kept: tuple[str, ...]


class PendingRefit:
    """A launched refit: its proposal, or the worker's future of it, and when it is due.

    Copying or pickling one waits for the worker and keeps the proposal, so a
    copy never shares a future with the original.
    """

    def __init__(
        self,
        launched_at: int,
        due: int,
        trigger: str,
        proposal: RefitProposal | None = None,
        future: Future | None = None,
    ) -> None:
        self.launched_at = launched_at
        self.due = due
        self.trigger = trigger
        self.proposal = proposal
        self.future = future

    def ready(self) -> bool:
        return self.proposal is not None or self.future is None or self.future.done()

    def result(self) -> RefitProposal:
        """The proposal, waiting for the worker if it is still fitting."""
        if self.proposal is None:
            try:
                self.proposal = self.future.result()
            except Exception as error:  # a dead worker, an unpicklable job
                message = f"background refit failed: {type(error).__name__}: {error}"
                self.proposal = RefitProposal(None, None, None, message)
            self.future = None
        return self.proposal

    def __getstate__(self) -> dict[str, Any]:
        self.result()
        return dict(vars(self))
