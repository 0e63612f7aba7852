"""The training loop: InfoNCE over in-batch (+ corpus) negatives, AdamW, early stopping.

The loop knows nothing about tower internals: it asks the model for user and item vectors,
the loss module for the objective, and a ``validate`` callable for the early-stopping metric.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from reelrec.config import TrainConfig
from reelrec.models.two_tower import TwoTower
from reelrec.progress import bar
from reelrec.training.examples import Batch, ExampleBuilder
from reelrec.training.losses import Temperature, info_nce
from reelrec.training.negatives import (
    StreamingFrequencyEstimator,
    sample_uniform_negatives,
    static_log_q,
    uniform_log_q,
)

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed torch and pick its deterministic kernels (the one place that does).

    With two threads, the accumulating backward of gathers sums in a varying order, so two fits
    with one seed differed in the last bits; deterministic kernels make them identical.
    """
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


@dataclass(slots=True)
class History:
    """What happened in training: per-epoch loss, validation metric, throughput."""

    loss: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    examples_per_second: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False

    def to_json(self) -> dict[str, object]:
        """A JSON-serialisable form."""
        return {
            "loss": self.loss,
            "validation": self.validation,
            "examples_per_second": self.examples_per_second,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }


class Objective(nn.Module):
    """InfoNCE with the configured switches; owns the temperature and the logQ estimator."""

    def __init__(self, cfg: TrainConfig, n_videos: int, counts: np.ndarray | None) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_videos = n_videos
        self.temperature = Temperature(cfg.temperature) if cfg.learn_temperature else None
        self.estimator = (
            StreamingFrequencyEstimator(seed=cfg.seed) if cfg.logq == "streaming" else None
        )
        self.static = (
            static_log_q(torch.from_numpy(counts).double(), cfg.batch_size).float()
            if cfg.logq == "static" and counts is not None
            else None
        )
        self.generator = torch.Generator().manual_seed(cfg.seed)

    def tau(self) -> torch.Tensor | float:
        """Current temperature."""
        return self.temperature() if self.temperature is not None else self.cfg.temperature

    def log_q(self, video_idx: torch.Tensor, step: int) -> torch.Tensor | None:
        """Per-column correction for the in-batch candidates (log expected count per batch)."""
        if self.estimator is not None:
            self.estimator.update(video_idx, step)
            return self.estimator.log_q(video_idx)
        if self.static is not None:
            return self.static[video_idx]
        return None

    def forward(
        self, model: TwoTower, builder: ExampleBuilder, batch: Batch, step: int
    ) -> torch.Tensor:
        """The loss of one batch."""
        users = model.encode_users(batch.user)
        items = model.encode_items(batch.item)
        log_q = self.log_q(batch.video_idx, step)
        neg_emb = neg_idx = neg_log_q = None
        if self.cfg.mixed_negatives > 0:
            neg_idx = sample_uniform_negatives(
                self.n_videos, self.cfg.mixed_negatives, self.generator
            )
            neg_emb = model.encode_items(builder.negatives(neg_idx.numpy()))
            if log_q is not None:
                neg_log_q = torch.full(
                    (neg_idx.shape[0],), uniform_log_q(self.n_videos, self.cfg.mixed_negatives)
                )
        return info_nce(
            users,
            items,
            batch.video_idx,
            temperature=self.tau(),
            log_q=log_q,
            mask_hits=self.cfg.mask_accidental_hits,
            neg_emb=neg_emb,
            neg_idx=neg_idx,
            neg_log_q=neg_log_q,
            weights=batch.weight if self.cfg.engagement_weighting else None,
        )


def make_optimizers(
    params: list[nn.Parameter], modules: list[nn.Module], cfg: TrainConfig
) -> list[torch.optim.Optimizer]:
    """AdamW for dense parameters; SparseAdam for sparse embedding tables."""
    sparse_ids = {
        id(m.weight)
        for root in modules
        for m in root.modules()
        if isinstance(m, nn.Embedding) and m.sparse
    }
    sparse = [p for p in params if id(p) in sparse_ids]
    dense = [p for p in params if id(p) not in sparse_ids]
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.AdamW(dense, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    ]
    if sparse:
        optimizers.append(torch.optim.SparseAdam(sparse, lr=cfg.learning_rate))
    return optimizers


def train_step(
    model: TwoTower,
    builder: ExampleBuilder,
    batch: Batch,
    step: int,
    objective: Objective,
    optimizers: list[torch.optim.Optimizer],
) -> torch.Tensor:
    """One optimisation step on ``batch``; returns its loss."""
    loss: torch.Tensor = objective(model, builder, batch, step)
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves backward untyped
    for opt in optimizers:
        opt.step()
    return loss


def train(
    model: TwoTower,
    builder: ExampleBuilder,
    cfg: TrainConfig,
    *,
    validate: Callable[[TwoTower], float] | None = None,
    counts: np.ndarray | None = None,
) -> History:
    """Train ``model`` in place; keep the weights of the best validation epoch.

    Raises:
        TrainingError: the loss became non-finite (with a remedy in the message).
    """
    objective = Objective(cfg, builder.space.videos.n_known, counts)
    params = [*model.parameters(), *objective.parameters()]
    optimizers = make_optimizers(params, [model, objective], cfg)
    history = History()
    best_state, best_score, since_best, step = None, -np.inf, 0, 0
    n_batches = builder.n_batches(cfg.batch_size)
    for epoch in range(cfg.epochs):
        model.train()
        started, total, seen = time.perf_counter(), 0.0, 0
        with bar(f"epoch {epoch + 1}/{cfg.epochs}", n_batches) as progress:
            for batch in builder.epoch(epoch, cfg.batch_size):
                loss = train_step(model, builder, batch, step, objective, optimizers)
                step += 1
                total += float(loss.detach()) * batch.video_idx.shape[0]
                seen += batch.video_idx.shape[0]
                rate = seen / max(time.perf_counter() - started, 1e-9)
                progress.advance(1, f"loss {total / seen:.4f} · {rate:,.0f} ex/s")
        history.loss.append(total / max(seen, 1))
        history.examples_per_second.append(seen / max(time.perf_counter() - started, 1e-9))
        if validate is None:
            history.best_epoch = epoch
            continue
        model.eval()
        score = validate(model)
        history.validation.append(score)
        log.info("epoch %d loss %.4f validation %.4f", epoch + 1, history.loss[-1], score)
        if score > best_score:
            best_state, best_score, since_best = copy.deepcopy(model.state_dict()), score, 0
            history.best_epoch = epoch
        else:
            since_best += 1
            if since_best > cfg.patience:
                history.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
