from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given

from reelrec.config import RulesConfig, config_from_dict
from reelrec.errors import ConfigError
from reelrec.rules.base import Candidates, RuleContext
from reelrec.rules.chain import build_chain, make_rule
from tests.rules.strategies import cases

CFG = RulesConfig(creator_cap=2, tag_cap=3, diversity_pool=8, duplicate_cosine=0.9)


def test_default_chain_fuses_consecutive_spacing_rules() -> None:
    chain = build_chain(RulesConfig())
    assert chain.names == (
        "seen",
        "safety",
        "popularity_damping",
        "diversity",
        "freshness",
        "near_duplicate+creator_spacing+tag_spacing",
    )


def test_unknown_rule_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="rules.chain"):
        config_from_dict({"rules": {"chain": ["seen", "sen"]}})
    with pytest.raises(ConfigError, match="unknown rule 'sen'"):
        make_rule("sen", RulesConfig())


@given(case=cases(min_size=1))
def test_final_feed_holds_every_filter_and_cap(case: tuple[Candidates, RuleContext]) -> None:
    slate, ctx = case
    out, spent = build_chain(CFG).apply_timed(slate, ctx)
    assert set(spent) == set(build_chain(CFG).names)
    assert all(ms >= 0 for ms in spent.values())
    shown = out.video_idx.tolist()
    assert not set(shown) & set(ctx.seen.tolist())
    assert not any(ctx.videos.unsafe[v] or v in ctx.blocklist for v in shown)
    groups = ctx.videos.duplicate_group[out.video_idx]
    assert np.unique(groups).size == groups.size
    head = out.video_idx[: ctx.k]
    for key, cap in ((ctx.videos.creator_idx, 2), (ctx.videos.primary_tag, 3)):
        counts = Counter(c for c in key[head].tolist() if c >= 0)
        assert max(counts.values(), default=0) <= cap
    assert build_chain(CFG).apply(slate, ctx) == out
