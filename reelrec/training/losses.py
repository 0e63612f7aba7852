"""Sampled-softmax (InfoNCE) loss for two-tower retrieval, built from small orthogonal switches.

One logits matrix ``[B, C]`` is built and each switch is a function applied to it in a fixed
order (the shape of TensorFlow Recommenders' ``tasks/retrieval.py``):

1. ``in_batch_logits`` (+ ``append_negatives``): ``[B, B]`` dot products, then ``M`` extra
   corpus-negative columns, ``[B, B + M]``. Row ``i``'s positive is column ``i``.
2. ``apply_temperature``: divide by τ.
3. ``apply_logq``: subtract ``log q(v)`` per column, *after* the temperature, as in Yi et al.
   2019 and TFRS: the correction is a property of the sampler, not of the score scale.
   The sign is ``s(u, v) − log q(v)``: popular items are down-weighted as negatives.
4. ``mask_accidental_hits``: a column holding the row's positive item (but not the positive's
   own column) gets a large finite negative logit, so it is neither a negative nor a NaN.
5. ``diagonal_cross_entropy``: softmax cross-entropy with target = diagonal, weighted mean.

Units of ``log_q`` (see ``reelrec.training.negatives``): log *expected count of the item among
one batch's candidate columns* from that source, e.g. ``log(B · p(v))`` for in-batch negatives
and ``log(M / N)`` for ``M`` uniform corpus negatives out of ``N`` items. Each source is
corrected with its own ``log_q``; both sources must be corrected or neither. (Per-source
correction is the usual approximation; the exact correction for the mixed sampler is
``log(B · p(v) + M / N)`` for every column, which a caller can pass as both vectors.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from reelrec.errors import ConfigError, DataError, TrainingError

NAN_REMEDY = "lower train.learning_rate or raise train.temperature"


def in_batch_logits(user_emb: Tensor, item_emb: Tensor) -> Tensor:
    """Score every user against every in-batch item.

    Args:
        user_emb: ``[B, D]`` float user embeddings.
        item_emb: ``[B, D]`` float item embeddings; row ``i`` is user ``i``'s positive.

    Returns:
        ``[B, B]`` dot products; the diagonal holds the positives.
    """
    if user_emb.ndim != 2 or user_emb.shape != item_emb.shape:
        raise DataError(
            f"user_emb and item_emb must both be [B, D]; got {tuple(user_emb.shape)} and "
            f"{tuple(item_emb.shape)}. Pass one positive item per user row."
        )
    return user_emb @ item_emb.T


def append_negatives(logits: Tensor, user_emb: Tensor, neg_emb: Tensor) -> Tensor:
    """Append extra (e.g. uniform corpus) negatives as columns.

    Args:
        logits: ``[B, C]`` float logits.
        user_emb: ``[B, D]`` float user embeddings.
        neg_emb: ``[M, D]`` float embeddings of the extra negatives, shared by all rows.

    Returns:
        ``[B, C + M]`` logits.
    """
    if neg_emb.ndim != 2 or neg_emb.shape[1] != user_emb.shape[1]:
        raise DataError(
            f"neg_emb must be [M, {user_emb.shape[1]}] to match user_emb; got "
            f"{tuple(neg_emb.shape)}. Embed the negatives with the item tower."
        )
    return torch.cat([logits, user_emb @ neg_emb.T], dim=1)


def apply_temperature(logits: Tensor, temperature: float | Tensor) -> Tensor:
    """Divide logits by the softmax temperature τ (a float or a scalar tensor, e.g. learned)."""
    if not isinstance(temperature, Tensor) and not temperature > 0.0:
        raise ConfigError(f"temperature must be > 0; got {temperature}. Set train.temperature > 0.")
    return logits / temperature


def apply_logq(logits: Tensor, log_q: Tensor | float) -> Tensor:
    """Subtract the sampler's log expected count per column: ``s(u, v) − log q(v)``.

    Args:
        logits: ``[B, C]`` float logits (already divided by the temperature).
        log_q: ``[C]`` float, or a scalar shared by every column.

    Returns:
        ``[B, C]`` corrected logits.
    """
    if isinstance(log_q, Tensor) and log_q.ndim > 0 and log_q.shape != logits.shape[1:]:
        raise DataError(
            f"log_q must have one entry per logits column ({logits.shape[1]}); "
            f"got shape {tuple(log_q.shape)}."
        )
    return logits - log_q


def mask_accidental_hits(logits: Tensor, pos_idx: Tensor, cand_idx: Tensor) -> Tensor:
    """Remove columns that hold a row's own positive item from that row's negatives.

    Column ``i`` of row ``i`` (the positive itself) is kept; any other column whose candidate
    id equals ``pos_idx[i]`` gets a large finite negative logit, so its softmax weight is 0
    without producing NaN (``-inf`` would, in rows where everything else were masked too).

    Args:
        logits: ``[B, C]`` float logits, ``C >= B``; the first ``B`` columns are in-batch.
        pos_idx: ``[B]`` int64 item index of each row's positive.
        cand_idx: ``[C]`` int64 item index of each column.

    Returns:
        ``[B, C]`` masked logits.
    """
    B, C = logits.shape
    if pos_idx.shape != (B,) or cand_idx.shape != (C,) or C < B:
        raise DataError(
            f"mask_accidental_hits needs logits [B, C>=B], pos_idx [B], cand_idx [C]; got "
            f"{tuple(logits.shape)}, {tuple(pos_idx.shape)}, {tuple(cand_idx.shape)}."
        )
    hits = pos_idx[:, None] == cand_idx[None, :]
    rows = torch.arange(B, device=logits.device)
    hits[rows, rows] = False
    return logits.masked_fill(hits, torch.finfo(logits.dtype).min / 2)


def diagonal_cross_entropy(logits: Tensor, weights: Tensor | None = None) -> Tensor:
    """Softmax cross-entropy with row ``i``'s target in column ``i``, as a weighted mean.

    Args:
        logits: ``[B, C]`` float logits, ``C >= B``.
        weights: optional ``[B]`` non-negative float per-row weights, normalised by their sum.

    Returns:
        Scalar float32 loss.
    """
    B, C = logits.shape
    if C < B:
        raise DataError(f"logits must have at least as many columns as rows; got {(B, C)}.")
    # Reduce in float32 at least: logsumexp in half precision loses the small losses.
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    per_row = torch.logsumexp(logits, dim=1) - logits.diagonal()
    if weights is None:
        return per_row.mean()
    if weights.shape != (B,):
        raise DataError(f"weights must be [B] = [{B}]; got {tuple(weights.shape)}.")
    weights = weights.to(per_row.dtype)
    total = weights.sum()
    if not (torch.isfinite(total) and total > 0 and (weights >= 0).all()):
        raise DataError(
            "weights must be finite, non-negative and not all zero; check the engagement "
            "weighting inputs (watch ratio, likes) or set train.engagement_weighting=false."
        )
    return (weights * per_row).sum() / total


def info_nce(
    user_emb: Tensor,
    item_emb: Tensor,
    item_idx: Tensor,
    *,
    temperature: float | Tensor,
    log_q: Tensor | None = None,
    mask_hits: bool = True,
    neg_emb: Tensor | None = None,
    neg_idx: Tensor | None = None,
    neg_log_q: Tensor | float | None = None,
    weights: Tensor | None = None,
) -> Tensor:
    """Compute the in-batch (optionally mixed-negative) InfoNCE loss.

    Order: logits ``[in-batch | extra]`` → ÷ temperature → − log q (each source its own) →
    mask accidental hits (in both parts) → cross-entropy on the diagonal, weighted mean.

    Args:
        user_emb: ``[B, D]`` float user embeddings.
        item_emb: ``[B, D]`` float embeddings of each user's positive item.
        item_idx: ``[B]`` int64 item index of each positive (for hit masking).
        temperature: τ > 0, a float or a scalar tensor (see ``Temperature``).
        log_q: ``[B]`` float log expected count per batch of each in-batch item, or None.
        mask_hits: mask columns equal to the row's positive (other than its own column).
        neg_emb: ``[M, D]`` float extra negatives, or None.
        neg_idx: ``[M]`` int64 item index of the extra negatives (needed when masking).
        neg_log_q: ``[M]`` float or scalar log expected count of the extra negatives.
        weights: ``[B]`` float per-example weights (normalised by their sum), or None.

    Returns:
        Scalar float loss.

    Raises:
        TrainingError: the loss is not finite.
    """
    _check_sources(log_q, mask_hits, neg_emb, neg_idx, neg_log_q)
    logits, cand_idx = in_batch_logits(user_emb, item_emb), item_idx
    if neg_emb is not None:
        logits = append_negatives(logits, user_emb, neg_emb)
        if neg_idx is not None:
            cand_idx = torch.cat([item_idx, neg_idx])
    logits = apply_temperature(logits, temperature)
    if log_q is not None:
        logits = apply_logq(logits, _column_log_q(log_q, neg_log_q, neg_emb, logits))
    if mask_hits:
        logits = mask_accidental_hits(logits, item_idx, cand_idx)
    loss = diagonal_cross_entropy(logits, weights)
    if not torch.isfinite(loss):
        raise TrainingError(_nan_message(loss, user_emb, item_emb, temperature))
    return loss


def _check_sources(
    log_q: Tensor | None,
    mask_hits: bool,
    neg_emb: Tensor | None,
    neg_idx: Tensor | None,
    neg_log_q: Tensor | float | None,
) -> None:
    """Reject switch combinations that would silently mis-train."""
    if neg_emb is None:
        if neg_idx is not None or neg_log_q is not None:
            raise ConfigError("neg_idx/neg_log_q were given without neg_emb; pass neg_emb too.")
        return
    if mask_hits and neg_idx is None:
        raise ConfigError(
            "mask_hits=True with extra negatives needs neg_idx to find accidental hits; "
            "pass neg_idx or set train.mask_accidental_hits=false."
        )
    if (log_q is None) != (neg_log_q is None):
        # Correcting one source only mixes corrected and raw logits in one softmax.
        raise ConfigError(
            "log_q and neg_log_q must be given together (both sources corrected in the same "
            "units, see reelrec.training.negatives.uniform_log_q) or both omitted."
        )


def _column_log_q(
    log_q: Tensor, neg_log_q: Tensor | float | None, neg_emb: Tensor | None, logits: Tensor
) -> Tensor:
    """Concatenate each source's log q into one ``[B + M]`` per-column vector."""
    if neg_emb is None or neg_log_q is None:
        return log_q
    M = neg_emb.shape[0]
    extra = torch.as_tensor(neg_log_q, dtype=logits.dtype, device=logits.device)
    if extra.ndim == 0:
        extra = extra.expand(M)
    if extra.shape != (M,):
        raise DataError(f"neg_log_q must be a scalar or [M] = [{M}]; got {tuple(extra.shape)}.")
    return torch.cat([log_q.to(logits.dtype), extra])


def _nan_message(loss: Tensor, user_emb: Tensor, item_emb: Tensor, tau: float | Tensor) -> str:
    """Say which input went non-finite and how to fix it."""
    where = "the logits"
    if not torch.isfinite(user_emb).all():
        where = "the user tower's embeddings"
    elif not torch.isfinite(item_emb).all():
        where = "the item tower's embeddings"
    return (
        f"InfoNCE loss is {loss.item()} (non-finite; source: {where}, temperature "
        f"{float(tau):.4g}); {NAN_REMEDY}."
    )


class Temperature(nn.Module):
    """Learnable softmax temperature τ, stored as ``log(1/τ)`` and kept in ``[min_tau, max_tau]``.

    The parameter is projected back into range in place on every call (as CLIP does) rather
    than clamped in the graph: a graph clamp has zero gradient outside the range, so a
    parameter that stepped past a bound would stay stuck there. Exclude it from weight decay.
    """

    def __init__(self, initial: float = 0.05, min_tau: float = 0.01, max_tau: float = 1.0) -> None:
        """Start at τ = ``initial``; ``0 < min_tau <= initial <= max_tau``."""
        super().__init__()
        if not 0.0 < min_tau <= initial <= max_tau:
            raise ConfigError(
                f"temperature must satisfy 0 < {min_tau} <= initial <= {max_tau}; got "
                f"initial={initial}. Set train.temperature inside that range."
            )
        self.min_tau = min_tau
        self.max_tau = max_tau
        self.log_inv_tau = nn.Parameter(torch.tensor(math.log(1.0 / initial)))

    def forward(self) -> Tensor:
        """Return τ as a scalar float32 tensor that carries gradient to ``log_inv_tau``."""
        with torch.no_grad():
            self.log_inv_tau.clamp_(math.log(1.0 / self.max_tau), math.log(1.0 / self.min_tau))
        return torch.exp(-self.log_inv_tau)
