"""Rule registry and composition: ``build_chain(cfg)`` turns ``rules.chain`` names into rules.

Consecutive spacing rules (``near_duplicate``, ``creator_spacing``, ``tag_spacing``) are fused
into one greedy pass, so every one of their guarantees holds in the final feed (a later
separate pass could break an earlier one's adjacency).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from reelrec.config import RulesConfig
from reelrec.errors import ConfigError
from reelrec.rules.base import Candidates, Rule, RuleContext
from reelrec.rules.boosts import FreshnessBoost, PopularityDamping
from reelrec.rules.diversity import Constraint, Diversity, Spacing
from reelrec.rules.filters import SafetyFilter, SeenFilter


def _spacing(name: str, constraint: Constraint) -> Spacing:
    return Spacing(name=name, constraints=(constraint,))


REGISTRY: dict[str, Callable[[RulesConfig], Rule]] = {
    "seen": lambda c: SeenFilter(window_hours=c.seen_window_hours),
    "safety": lambda c: SafetyFilter(),
    "popularity_damping": lambda c: PopularityDamping(alpha=c.popularity_alpha),
    "diversity": lambda c: Diversity(lam=c.diversity_lambda, pool=c.diversity_pool),
    "freshness": lambda c: FreshnessBoost(
        max_age_hours=c.fresh_max_age_hours, slots=c.fresh_slots, bonus=c.fresh_bonus
    ),
    "near_duplicate": lambda c: _spacing(
        "near_duplicate",
        Constraint(key="near_duplicate", note="near_duplicate", cosine=c.duplicate_cosine),
    ),
    "creator_spacing": lambda c: _spacing(
        "creator_spacing", Constraint(key="creator", note="creator_spacing", cap=c.creator_cap)
    ),
    "tag_spacing": lambda c: _spacing(
        "tag_spacing", Constraint(key="tag", note="tag_spacing", cap=c.tag_cap)
    ),
}
"""Rule name (as in ``rules.chain``) → factory from the rules config."""


def make_rule(name: str, cfg: RulesConfig) -> Rule:
    """The rule registered as ``name``, configured from ``cfg``.

    Raises:
        ConfigError: ``name`` is not registered.
    """
    if name not in REGISTRY:
        raise ConfigError(f"unknown rule {name!r} in rules.chain; known: {', '.join(REGISTRY)}")
    return REGISTRY[name](cfg)


@dataclass(frozen=True, slots=True)
class RuleChain:
    """Rules applied in order."""

    rules: tuple[Rule, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Each rule's name, in order (fused spacing rules read ``a+b``)."""
        return tuple(r.name for r in self.rules)

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate after every rule."""
        for rule in self.rules:
            slate = rule.apply(slate, ctx)
        return slate

    def apply_timed(
        self, slate: Candidates, ctx: RuleContext
    ) -> tuple[Candidates, dict[str, float]]:
        """``apply``, plus milliseconds spent in each rule (by name)."""
        spent: dict[str, float] = {}
        for rule in self.rules:
            start = time.perf_counter()
            slate = rule.apply(slate, ctx)
            spent[rule.name] = (time.perf_counter() - start) * 1e3
        return slate, spent


def fuse(rules: list[Rule]) -> tuple[Rule, ...]:
    """Merge runs of consecutive ``Spacing`` rules into one ``Spacing`` with all constraints."""
    out: list[Rule] = []
    for rule in rules:
        last = out[-1] if out else None
        if isinstance(rule, Spacing) and isinstance(last, Spacing):
            out[-1] = Spacing(
                name=f"{last.name}+{rule.name}", constraints=last.constraints + rule.constraints
            )
        else:
            out.append(rule)
    return tuple(out)


def build_chain(cfg: RulesConfig) -> RuleChain:
    """The chain named by ``cfg.chain``, with consecutive spacing rules fused.

    Raises:
        ConfigError: a name in ``cfg.chain`` is not registered.
    """
    return RuleChain(fuse([make_rule(name, cfg) for name in cfg.chain]))
