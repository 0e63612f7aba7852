"""The rule contract (ADR-0006), checked for every registered rule on generated slates.

Every rule: output ⊆ input without repeats; each item keeps its score (score rules: only
lower) and its earlier reasons; removals are counted; on ranked input (scores descending)
the items the rule did not note keep their relative order; filters and score rules return
scores in descending order; idempotent; empty stays empty; deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from reelrec.config import RulesConfig
from reelrec.rules.base import Candidates, Rule, RuleContext
from reelrec.rules.chain import REGISTRY, build_chain, make_rule
from tests.rules.strategies import cases

CFG = RulesConfig(
    creator_cap=2,
    tag_cap=3,
    diversity_lambda=0.5,
    diversity_pool=8,
    fresh_slots=2,
    fresh_max_age_hours=24.0,
    popularity_alpha=0.3,
    duplicate_cosine=0.9,
    seen_window_hours=24.0,
)
FUSED = "near_duplicate+creator_spacing+tag_spacing"
NAMES = [*REGISTRY, FUSED]
FILTERS = {"seen", "safety"}
SCORE_RULES = {"popularity_damping"}


def rule_named(name: str) -> Rule:
    if name == FUSED:
        (fused,) = build_chain(
            CFG.model_copy(update={"chain": ["near_duplicate", "creator_spacing", "tag_spacing"]})
        ).rules
        assert fused.name == FUSED
        return fused
    return make_rule(name, CFG)


def test_every_registered_name_is_in_the_config_choices() -> None:
    chain = RulesConfig(chain=list(REGISTRY))
    assert tuple(chain.chain) == tuple(REGISTRY)
    assert set(RulesConfig().chain) == set(REGISTRY)


def added_notes(before: Candidates, after: Candidates) -> dict[int, tuple[str, ...]]:
    """video idx → notes the rule added (asserting the earlier reasons are kept as a prefix)."""
    earlier = dict(zip(before.video_idx.tolist(), before.reasons, strict=True))
    out = {}
    for video, reasons in zip(after.video_idx.tolist(), after.reasons, strict=True):
        assert reasons[: len(earlier[video])] == earlier[video]
        out[video] = reasons[len(earlier[video]) :]
    return out


def own_note(rule: Rule, note: str) -> bool:
    return note.split(":")[0] in rule.name.split("+")


@pytest.mark.parametrize("name", NAMES)
@given(case=cases())
def test_output_is_a_counted_subset_with_scores_and_reasons_kept(
    name: str, case: tuple[Candidates, RuleContext]
) -> None:
    slate, ctx = case
    rule = rule_named(name)
    out = rule.apply(slate, ctx)
    assert np.unique(out.video_idx).size == len(out)
    assert set(out.video_idx.tolist()) <= set(slate.video_idx.tolist())
    assert len(out.reasons) == len(out) == out.scores.size
    assert sum(out.removed_counts().values()) == len(slate) - len(out)
    score_in = dict(zip(slate.video_idx.tolist(), slate.scores.tolist(), strict=True))
    for video, score in zip(out.video_idx.tolist(), out.scores.tolist(), strict=True):
        if name in SCORE_RULES:
            assert score <= score_in[video]
        else:
            assert score == score_in[video]
    for notes in added_notes(slate, out).values():
        assert all(own_note(rule, n) for n in notes)


@pytest.mark.parametrize("name", NAMES)
@given(case=cases())
def test_items_not_noted_keep_their_relative_order(
    name: str, case: tuple[Candidates, RuleContext]
) -> None:
    slate, ctx = case
    out = rule_named(name).apply(slate, ctx)
    notes = added_notes(slate, out)
    position = {v: i for i, v in enumerate(slate.video_idx.tolist())}
    unmoved = [position[v] for v in out.video_idx.tolist() if not notes[v]]
    assert unmoved == sorted(unmoved)
    if name in FILTERS:  # filters move nothing and note nothing
        assert all(not n for n in notes.values())
        kept = [position[v] for v in out.video_idx.tolist()]
        assert kept == sorted(kept)
    if name in FILTERS | SCORE_RULES:
        assert np.all(np.diff(out.scores) <= 0)


@pytest.mark.parametrize("name", NAMES)
@given(case=cases(sorted_scores=False))
def test_idempotent_and_deterministic(name: str, case: tuple[Candidates, RuleContext]) -> None:
    slate, ctx = case
    rule = rule_named(name)
    once = rule.apply(slate, ctx)
    assert rule.apply(once, ctx) == once
    assert rule_named(name).apply(slate, ctx) == once


@pytest.mark.parametrize("name", NAMES)
@given(case=cases())
def test_empty_stays_empty(name: str, case: tuple[Candidates, RuleContext]) -> None:
    _, ctx = case
    out = rule_named(name).apply(Candidates.empty(), ctx)
    assert len(out) == 0
    assert out.removed == ()
