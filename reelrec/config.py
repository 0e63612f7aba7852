"""The one typed configuration tree: code defaults, then a TOML file, then dotted overrides.

Each stage receives only its own section (``train(model, batches, cfg.train)``).
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reelrec.errors import ConfigError

UserFeature = Literal["id", "history", "context", "attributes"]
ItemFeature = Literal["id", "creator", "tags", "duration", "age", "title", "vectors"]
Baseline = Literal["popular", "ease", "als", "id-two-tower"]


def _user_features() -> list[UserFeature]:
    return ["id", "history", "context", "attributes"]


def _item_features() -> list[ItemFeature]:
    return ["id", "creator", "tags", "duration", "title", "vectors"]


def _baselines() -> list[Baseline]:
    return ["popular"]


RuleName = Literal[
    "seen",
    "safety",
    "popularity_damping",
    "diversity",
    "freshness",
    "near_duplicate",
    "creator_spacing",
    "tag_spacing",
]


def _rule_chain() -> list[RuleName]:
    return [
        "seen",
        "safety",
        "popularity_damping",
        "diversity",
        "freshness",
        "near_duplicate",
        "creator_spacing",
        "tag_spacing",
    ]


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(Section):
    """Where the data lives and what counts as a positive interaction."""

    path: str = Field("data/world", description="Data folder (interactions/videos/users.parquet).")
    positive_watch_ratio: float = Field(
        0.8,
        gt=0.0,
        le=10.0,
        description="watch_seconds / video_seconds at or above this is a positive.",
    )
    positive_min_rating: float = Field(
        4.0,
        ge=0.0,
        description="For rated data without watch time: rating at or above this is a positive.",
    )


class FeaturesConfig(Section):
    """Feature definitions shared by training and serving."""

    history_length: int = Field(
        50, ge=1, le=1000, description="Last N watched videos in the user tower."
    )
    oov_buckets: int = Field(64, ge=1, le=1_000_000, description="Hash buckets for unseen ids.")
    text_buckets: int = Field(
        1 << 15, ge=16, le=1 << 22, description="Hash buckets for title word/char n-grams."
    )
    duration_buckets: list[float] = Field(
        default_factory=lambda: [5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0],
        description="Upper edges (seconds) of video duration buckets.",
    )
    age_buckets_hours: list[float] = Field(
        default_factory=lambda: [1.0, 6.0, 24.0, 72.0, 168.0, 720.0],
        description="Upper edges (hours) of video-age-since-upload buckets.",
    )


class ModelConfig(Section):
    """Two-tower architecture."""

    dim: int = Field(
        64, ge=2, le=4096, description="Output dimension of both towers (L2-normalised)."
    )
    embedding_dim: int = Field(64, ge=2, le=4096, description="Width of id/feature embeddings.")
    hidden: list[int] = Field(
        default_factory=lambda: [128], description="MLP hidden widths per tower."
    )
    id_dropout: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="Probability of dropping a video's id embedding in training.",
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout inside the tower MLPs.")
    user_features: list[UserFeature] = Field(
        default_factory=_user_features,
        description="User-tower inputs; ['id'] alone is the ID-only ablation.",
    )
    item_features: list[ItemFeature] = Field(
        default_factory=_item_features,
        description=(
            "Item-tower inputs; content inputs give unseen videos their vectors. 'age' is "
            "opt-in: index vectors would freeze it at index time (ADR-0005)."
        ),
    )
    user_id_dropout: float = Field(
        0.1, ge=0.0, le=1.0, description="Probability of replacing a user's id by its OOV bucket."
    )


class TrainConfig(Section):
    """Contrastive training of the towers."""

    epochs: int = Field(10, ge=1, le=10_000, description="Maximum number of epochs.")
    batch_size: int = Field(
        1024, ge=2, le=1 << 20, description="Examples per batch (in-batch negatives)."
    )
    learning_rate: float = Field(3e-3, gt=0.0, le=10.0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="AdamW weight decay.")
    temperature: float = Field(
        0.05, gt=0.0, le=1.0, description="Softmax temperature (initial if learned)."
    )
    learn_temperature: bool = Field(False, description="Learn the temperature with the towers.")
    logq: Literal["streaming", "static", "none"] = Field(
        "streaming",
        description="Popularity correction: streaming estimator, static counts, or none.",
    )
    mask_accidental_hits: bool = Field(
        True, description="Mask in-batch negatives equal to the positive."
    )
    mixed_negatives: int = Field(
        0, ge=0, le=1 << 16, description="Extra uniform corpus negatives per batch."
    )
    engagement_weighting: bool = Field(
        True, description="Weight positives by watch ratio and likes."
    )
    patience: int = Field(
        2, ge=0, le=1000, description="Epochs without validation gain before stopping."
    )
    validation_k: int = Field(20, ge=1, le=10_000, description="K of the validation Recall@K.")
    seed: int = Field(0, ge=0, description="Seed for every random choice in training.")
    sparse_embeddings: bool = Field(
        True,
        description="Sparse gradients + SparseAdam for id tables (fast with large catalogues).",
    )
    validation_users: int = Field(
        2000, ge=0, description="Users held out (their last positive) for early stopping; 0 = none."
    )


class IndexConfig(Section):
    """ANN index choice and parameters."""

    kind: Literal["auto", "exact", "flat", "hnsw", "ivf"] = Field(
        "auto",
        description="Index type; auto: exact (faiss Flat, else numpy) up to exact_max, else HNSW.",
    )
    exact_max: int = Field(
        200_000, ge=0, description="Largest corpus served by exact search under auto."
    )
    hnsw_m: int = Field(32, ge=4, le=256, description="HNSW graph degree.")
    ef_construction: int = Field(80, ge=8, le=4096, description="HNSW build beam width.")
    ef_search: int = Field(128, ge=1, le=8192, description="HNSW search beam width.")
    ivf_nlist: int = Field(0, ge=0, description="IVF lists; 0 = 4·sqrt(n).")
    nprobe: int = Field(32, ge=1, le=65536, description="IVF lists probed per query.")


class EvaluationConfig(Section):
    """Offline evaluation."""

    ks: list[int] = Field(
        default_factory=lambda: [10, 20, 50], description="Cut-offs for @K metrics."
    )
    baselines: list[Baseline] = Field(
        default_factory=_baselines, description="Baselines measured in the same run."
    )


class StoreConfig(Section):
    """Online feature store (issue 4): where live user histories and video aggregates live."""

    backend: Literal["embedded", "redis"] = Field(
        "embedded", description="embedded: in-process (default); redis: shared across replicas."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL for backend=redis.")
    redis_prefix: str = Field("reelrec:", description="Prefix of every Redis key the store writes.")
    fallback_to_embedded: bool = Field(
        False,
        description="If Redis is unreachable at start-up, warn and use the embedded store.",
    )


class RankingConfig(Section):
    """Multi-task ranker over retrieved candidates (issue 5)."""

    enabled: bool = Field(True, description="Rank retrieved candidates (else retrieval order).")
    candidates: int = Field(
        500, ge=1, le=100_000, description="Candidates retrieved per feed for the ranker."
    )
    hidden: list[int] = Field(
        default_factory=lambda: [64, 32], description="Shared MLP hidden widths of the ranker."
    )
    epochs: int = Field(4, ge=1, le=1000, description="Ranker training epochs.")
    batch_size: int = Field(1024, ge=8, le=1 << 20, description="Ranker examples per batch.")
    learning_rate: float = Field(3e-3, gt=0.0, le=10.0, description="Ranker Adam learning rate.")
    train_fraction: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description=(
            "Ranker trains on the latest share of training impressions (by time); histories, "
            "tower scores and aggregates use only events before each impression."
        ),
    )
    max_examples: int = Field(
        300_000, ge=100, description="Cap on ranker training impressions (seeded sample)."
    )
    sampled_negatives: int = Field(
        4,
        ge=0,
        le=1000,
        description=(
            "Unexposed retrieval candidates added per training impression as non-engaged "
            "(all labels 0); 0 = logged impressions only."
        ),
    )
    watch_cap: float = Field(
        3.0, gt=0.0, le=100.0, description="Watch ratio is capped here for the watch head."
    )
    weight_watch: float = Field(
        1.0, ge=0.0, description="Feed-score weight of the watch head (watch ratio / watch_cap)."
    )
    weight_like: float = Field(1.0, ge=0.0, description="Feed-score weight of P(like).")
    weight_complete: float = Field(0.5, ge=0.0, description="Feed-score weight of P(complete).")
    weight_share_follow: float = Field(
        1.0, ge=0.0, description="Feed-score weight of P(share or follow)."
    )
    seed: int = Field(0, ge=0, description="Seed of the ranker's sampling and initialisation.")


class RulesConfig(Section):
    """Feed rules applied after ranking, in ``chain`` order (issue 5)."""

    chain: list[RuleName] = Field(
        default_factory=_rule_chain,
        description=(
            "Rules applied in order after ranking: filters, then score changes, then re-rankers; "
            "consecutive spacing rules (near_duplicate, creator_spacing, tag_spacing) run as one "
            "pass so all their guarantees hold in the feed (ADR-0006)."
        ),
    )
    seen_window_hours: float = Field(
        0.0, ge=0.0, description="Seen filter: hide videos seen in the last N hours; 0 = ever."
    )
    duplicate_cosine: float = Field(
        0.95,
        gt=0.0,
        le=1.0,
        description="Item vectors with cosine above this are near-duplicates (never adjacent).",
    )
    creator_cap: int = Field(
        2, ge=0, le=1000, description="Most videos per creator in the first k; 0 = no cap."
    )
    tag_cap: int = Field(
        4, ge=0, le=1000, description="Most videos per primary tag in the first k; 0 = no cap."
    )
    diversity_lambda: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="MMR trade-off: 1 = relevance only, 0 = dissimilarity only.",
    )
    diversity_pool: int = Field(
        100, ge=1, le=100_000, description="MMR picks the first k from this many top candidates."
    )
    fresh_max_age_hours: float = Field(
        24.0, gt=0.0, description="Videos uploaded within this many hours count as fresh."
    )
    fresh_slots: int = Field(
        2, ge=0, le=1000, description="Exploration slots for fresh videos in the first k."
    )
    fresh_bonus: float = Field(
        0.5,
        ge=0.0,
        description=(
            "Fresh pick: score + bonus × σ / sqrt(1 + views), σ = std of the slate's scores "
            "(an uncertainty bonus)."
        ),
    )
    popularity_alpha: float = Field(
        0.25,
        ge=0.0,
        description=(
            "Damping: score -= alpha × σ × log1p(views) / log1p(max views in the slate), "
            "σ = std of the slate's scores."
        ),
    )


class ServingConfig(Section):
    """The HTTP feed service (issue 6)."""

    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    workers: int = Field(
        1, ge=1, le=256, description="Worker processes (each single-threaded; scale by processes)."
    )
    max_k: int = Field(200, ge=1, le=10_000, description="Largest k a request may ask for.")
    max_batch: int = Field(
        1000, ge=1, le=100_000, description="Most events or videos in one request body."
    )
    max_body_bytes: int = Field(
        4 << 20, ge=1024, le=1 << 30, description="Largest request body (bytes); larger → 413."
    )
    max_exclude: int = Field(
        1000, ge=0, le=100_000, description="Most video ids a recommend request may exclude."
    )
    budget_retrieve_ms: float = Field(
        30.0, gt=0.0, description="Time budget of features + user tower + ANN per request."
    )
    budget_rank_ms: float = Field(30.0, gt=0.0, description="Time budget of the ranking stage.")
    budget_rules_ms: float = Field(20.0, gt=0.0, description="Time budget of the rules stage.")
    breaker_s: float = Field(
        10.0,
        ge=0.0,
        description="Seconds a stage that failed or overran its budget is skipped (degraded).",
    )
    reload_poll_s: float = Field(
        2.0,
        ge=0.0,
        description="Seconds between checks of RUN_DIR/RELOAD and the manifest; 0 = off.",
    )
    fallback_fresh_hours: float = Field(
        72.0, gt=0.0, description="Videos uploaded this recently count as fresh for cold start."
    )
    threads: int = Field(
        1, ge=1, le=256, description="BLAS/OpenMP/faiss threads per worker (1: no pool contention)."
    )
    huge_pages: bool = Field(
        True,
        description="Start on the memory-mapped index, then swap in a copy read into the "
        "worker's memory and backed by huge pages (Linux 6.1+, in the background): ~20% "
        "faster HNSW search at 1M videos, one private copy per worker; false keeps the "
        "mapped index (pages shared by workers).",
    )


class SimulationConfig(Section):
    """Feed simulator on the synthetic world and A/B experiments (issue 7)."""

    users: int = Field(500, ge=1, description="Simulated users per variant.")
    days: int = Field(1, ge=1, le=365, description="Simulated days.")
    seed: int = Field(0, ge=0, description="Seed of the simulation.")
    page_size: int = Field(10, ge=1, le=1000, description="Videos per feed page.")
    max_pages: int = Field(15, ge=1, le=1000, description="Pages at most per session.")
    fatigue_base: float = Field(-3.6, description="Leave-probability logit after the first video.")
    fatigue_per_video: float = Field(
        0.03, ge=0.0, description="Leave logit added per video seen in the session."
    )
    fatigue_per_skip: float = Field(
        0.22, ge=0.0, description="Leave logit added per video skipped in the session."
    )
    feedback: bool = Field(
        True, description="Feed simulated events back to the policy (Recommender.apply_events)."
    )


class VariantConfig(Section):
    """One arm of an A/B experiment: a run directory and/or config overrides, and its share."""

    name: str = Field(..., min_length=1, description="Variant name (control first).")
    share: float = Field(..., gt=0.0, le=1.0, description="Traffic share of the variant.")
    run_dir: str | None = Field(None, description="Run directory serving this variant.")
    overrides: list[str] = Field(
        default_factory=list, description="section.key=value settings (e.g. rule/weight changes)."
    )
    stages: list[Literal["retrieve", "rank", "rules"]] | None = Field(
        None, description="Pipeline stages (default: all)."
    )


class ExperimentConfig(Section):
    """An A/B experiment defined in its own TOML file (``name`` and ``[[variants]]``)."""

    name: str = Field(..., min_length=1, description="Experiment name (salts the user hash).")
    variants: list[VariantConfig] = Field(..., min_length=2, description="Arms, control first.")

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique; got {names}")
        total = sum(v.share for v in self.variants)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"variant shares must sum to 1; got {total:.6g}")
        return self


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read an experiment TOML file; raises ``ConfigError`` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return ExperimentConfig.model_validate(raw)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from None
    except ValidationError as e:
        msgs = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'experiment'}: {err['msg']}"
            for err in e.errors()
        )
        raise ConfigError(f"{path}: {msgs}") from None


class Config(Section):
    """The root of the configuration tree."""

    data: DataConfig = Field(default_factory=DataConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(p) for p in loc)
    if error["type"] == "extra_forbidden":
        section = _section_at(loc)
        valid = sorted(section.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f" Did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else ""
        return f"unknown config key '{key}'; valid keys here: {', '.join(valid)}.{hint}"
    return f"config key '{key}': {error['msg']}; got {error.get('input')!r}"


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build a ``Config`` from nested dicts, turning validation errors into ``ConfigError``."""
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("; ".join(_describe(err) for err in e.errors())) from None


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as TOML, else strings)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value")
        dotted, value = item.split("=", 1)
        parts = [p.strip() for p in dotted.strip().split(".")]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"override '{item}': key must be section.key (e.g. train.epochs=5)")
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{item}': '{part}' is a value, not a section")
            node = child
        node[parts[-1]] = _parse_value(value.strip())
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load the config: defaults, then the TOML file at ``path``, then ``overrides``.

    Raises:
        ConfigError: the file is missing or invalid TOML, a key is unknown, or a value invalid.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: invalid TOML ({e})") from None
    return config_from_dict(apply_overrides(raw, list(overrides or [])))


def dump_config(config: Config) -> str:
    """Serialise a config as TOML (round-trips through ``load_config``)."""
    lines: list[str] = []
    for name, section in config.model_dump().items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in section.items())
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
