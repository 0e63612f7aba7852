"""The single definition of every tower input, fitted once and used by training and serving.

``FeatureSpace`` owns the vocabularies; ``encode_videos`` turns video metadata into the item
tower's arrays; ``user_context`` turns request times into context features. Serving calls the
same functions on new videos and live requests, so there is no second implementation.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from reelrec.artifacts import atomic_write_json, load_columns, save_columns
from reelrec.config import FeaturesConfig
from reelrec.errors import ArtifactError
from reelrec.features.transforms import bucketize, pack_rows, pad_ragged, text_tokens
from reelrec.features.vocab import Vocabulary
from reelrec.types import Idx

USER_ATTRIBUTES = ("age_bucket", "gender", "region", "device")
VECTOR_COLUMNS = ("audio_vector", "visual_vector")
MAX_TAGS = 8
MAX_TITLE_TOKENS = 48


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoArrays:
    """Item-tower inputs for a set of videos, row-aligned with ``video_idx``.

    Shapes: ``[n]`` for scalars, ``[n, MAX_TAGS]`` tags (0 = pad), ``[n, MAX_TITLE_TOKENS]``
    title buckets (0 = pad), ``[n, vector_dim]`` float32 media vectors (zeros when absent).
    """

    video_idx: Idx
    creator_idx: Idx
    tags: Idx
    duration_bucket: Idx
    upload_seconds: np.ndarray
    title: Idx
    vectors: np.ndarray
    unsafe: np.ndarray

    def __len__(self) -> int:
        return int(self.video_idx.shape[0])

    def take(self, rows: Idx) -> VideoArrays:
        """The subset at ``rows``."""
        return VideoArrays(**{k: getattr(self, k)[rows] for k in self.__dataclass_fields__})

    def concat(self, other: VideoArrays) -> VideoArrays:
        """Rows of ``self`` followed by rows of ``other``."""
        return VideoArrays(
            **{
                k: np.concatenate([getattr(self, k), getattr(other, k)])
                for k in self.__dataclass_fields__
            }
        )

    def save(self, folder: Path) -> None:
        """Write one ``.npy`` file per field into ``folder`` (memory-mappable on load)."""
        save_columns(folder, {k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path) -> VideoArrays:
        """Read what ``save`` wrote, memory-mapped read-only (a 1M-video catalogue opens in
        milliseconds and pages in on use; worker processes share the pages); a ``.npz`` file
        (the format before 0.2) is read into memory.

        Raises:
            ArtifactError: a field is missing or the fields disagree on the number of videos.
        """
        if path.is_dir():
            return cls(**load_columns(path, cls.__dataclass_fields__, "catalogue"))
        try:
            with np.load(path) as data:
                return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError) as e:
            raise ArtifactError(f"{path}: cannot read the catalogue ({e})") from e


@dataclass(slots=True, kw_only=True)
class FeatureSpace:
    """Vocabularies and shapes of every feature, fitted on training data."""

    cfg: FeaturesConfig
    users: Vocabulary
    videos: Vocabulary
    creators: Vocabulary
    tags: Vocabulary
    attributes: dict[str, Vocabulary] = field(default_factory=dict)
    vector_dims: dict[str, int] = field(default_factory=dict)
    reference_seconds: float = 0.0

    @property
    def vector_dim(self) -> int:
        """Total width of the media vectors fed to the item tower."""
        return sum(self.vector_dims.values())

    @classmethod
    def fit(
        cls,
        cfg: FeaturesConfig,
        interactions: pl.DataFrame,
        videos: pl.DataFrame,
        users: pl.DataFrame,
    ) -> FeatureSpace:
        """Fit vocabularies: ids seen in the training data, in first-seen order."""
        video_ids = pl.concat(
            [videos.get_column("video_id"), interactions.get_column("video_id")]
        ).unique(maintain_order=True)
        creators = videos.get_column("creator_id").drop_nulls().unique(maintain_order=True)
        tags = videos.get_column("tags").explode().drop_nulls().unique(maintain_order=True)
        attributes = {
            name: Vocabulary.fit(users.get_column(name).drop_nulls().unique(maintain_order=True))
            for name in USER_ATTRIBUTES
            if name in users.columns
        }
        dims = {}
        for name in VECTOR_COLUMNS:
            if name in videos.columns:
                lengths = videos.get_column(name).list.len().drop_nulls()
                if lengths.len():
                    dims[name] = int(lengths.max())  # type: ignore[arg-type]
        reference = 0.0
        if "timestamp" in interactions.columns and interactions.height:
            reference = float(interactions.get_column("timestamp").max().timestamp())  # type: ignore[union-attr]
        return cls(
            cfg=cfg,
            users=Vocabulary.fit(interactions.get_column("user_id"), cfg.oov_buckets),
            videos=Vocabulary(video_ids.to_list(), cfg.oov_buckets),
            creators=Vocabulary(creators.to_list(), cfg.oov_buckets),
            tags=Vocabulary(tags.to_list()),
            attributes=attributes,
            vector_dims=dims,
            reference_seconds=reference,
        )

    def encode_videos(self, videos: pl.DataFrame) -> VideoArrays:
        """Item-tower inputs for ``videos`` (known or new): the one implementation."""
        n = videos.height
        creator = videos.get_column("creator_id")
        creator_idx = self.creators.encode(creator.fill_null(""))
        creator_idx = np.where(creator.is_null().to_numpy(), -1, creator_idx)
        exploded = (
            videos.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), "tags")
            .explode("tags")
            .drop_nulls("tags")
        )
        codes = self.tags.encode(exploded.get_column("tags"))
        known = codes >= 0
        tags = pack_rows(
            exploded.get_column("row").to_numpy()[known], codes[known] + 1, n, MAX_TAGS
        )
        duration = videos.get_column("duration_seconds").cast(pl.Float64).fill_null(np.nan)
        upload = videos.get_column("upload_timestamp")
        upload_seconds = (upload.dt.epoch("us").cast(pl.Float64) / 1e6).fill_null(np.nan)
        titles = videos.get_column("title").to_list()
        title_rows = [text_tokens(t, self.cfg.text_buckets, MAX_TITLE_TOKENS) for t in titles]
        unsafe = (
            videos.get_column("unsafe").fill_null(False).to_numpy()
            if "unsafe" in videos.columns
            else np.zeros(n, dtype=bool)
        )
        return VideoArrays(
            video_idx=self._known_or_unknown(self.videos.encode(videos.get_column("video_id"))),
            creator_idx=creator_idx.astype(np.int64),
            tags=tags,
            duration_bucket=bucketize(duration.to_numpy(), self.cfg.duration_buckets),
            upload_seconds=upload_seconds.to_numpy().astype(np.float64),
            title=pad_ragged(title_rows, MAX_TITLE_TOKENS),
            vectors=self._vectors(videos),
            unsafe=unsafe.astype(bool),
        )

    def _known_or_unknown(self, idx: Idx) -> Idx:
        """Tower id input: known videos keep their row, new ones are "unknown" (-1)."""
        return np.where((idx >= 0) & (idx < self.videos.n_known), idx, -1).astype(np.int64)

    def _vectors(self, videos: pl.DataFrame) -> np.ndarray:
        blocks = [np.zeros((videos.height, 0), dtype=np.float32)]
        for name, dim in self.vector_dims.items():
            block = np.zeros((videos.height, dim), dtype=np.float32)
            if name in videos.columns:
                for i, vec in enumerate(videos.get_column(name).to_list()):
                    if vec is not None:
                        block[i, : min(dim, len(vec))] = vec[:dim]
            blocks.append(block)
        return np.concatenate(blocks, axis=1)

    def age_bucket(self, upload_seconds: np.ndarray, at_seconds: np.ndarray | float) -> Idx:
        """Bucket of hours since upload at the given time(s); 0 when unknown."""
        hours = (np.asarray(at_seconds, dtype=np.float64) - upload_seconds) / 3600.0
        return bucketize(np.maximum(hours, 0.0), self.cfg.age_buckets_hours)

    def encode_attributes(self, users: pl.DataFrame, user_ids: list[str]) -> Idx:
        """``[n, n_attributes]`` attribute indices (+1; 0 = unknown) for ``user_ids``."""
        names = list(self.attributes)
        out = np.zeros((len(user_ids), len(names)), dtype=np.int64)
        if not names:
            return out
        frame = pl.DataFrame({"user_id": user_ids}).join(
            users.select(["user_id", *[n for n in names if n in users.columns]]),
            on="user_id",
            how="left",
            maintain_order="left",
        )
        for j, name in enumerate(names):
            if name in frame.columns:
                codes = self.attributes[name].encode(frame.get_column(name).fill_null(""))
                out[:, j] = np.where(codes >= 0, codes + 1, 0)
        return out

    def save(self, folder: Path) -> None:
        """Write every vocabulary and shape into ``folder`` (``features.json``)."""
        atomic_write_json(
            folder / "features.json",
            {
                "cfg": self.cfg.model_dump(),
                "users": self.users.to_json(),
                "videos": self.videos.to_json(),
                "creators": self.creators.to_json(),
                "tags": self.tags.to_json(),
                "attributes": {k: v.to_json() for k, v in self.attributes.items()},
                "vector_dims": self.vector_dims,
                "reference_seconds": self.reference_seconds,
            },
        )

    @classmethod
    def load(cls, folder: Path) -> FeatureSpace:
        """Read what ``save`` wrote."""
        path = folder / "features.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{path}: cannot read feature space ({e})") from e
        return cls(
            cfg=FeaturesConfig.model_validate(raw["cfg"]),
            users=Vocabulary.from_json(raw["users"]),
            videos=Vocabulary.from_json(raw["videos"]),
            creators=Vocabulary.from_json(raw["creators"]),
            tags=Vocabulary.from_json(raw["tags"]),
            attributes={k: Vocabulary.from_json(v) for k, v in raw["attributes"].items()},
            vector_dims={k: int(v) for k, v in raw["vector_dims"].items()},
            reference_seconds=float(raw["reference_seconds"]),
        )


def context_of(seconds: np.ndarray) -> tuple[Idx, Idx]:
    """Hour of day (0–23) and weekday (0 = Monday) in UTC for epoch seconds; NaN → (24, 7)."""
    seconds = np.asarray(seconds, dtype=np.float64)
    if seconds.shape == (1,):  # a request: plain arithmetic, ~1 µs instead of ~12
        second = float(seconds[0])
        if math.isnan(second):
            return np.array([24]), np.array([7])
        t = int(second)  # truncation, as astype(int64)
        return np.array([t // 3600 % 24]), np.array([(t // 86400 + 3) % 7])
    missing = np.isnan(seconds)
    whole = np.where(missing, 0, seconds).astype(np.int64)
    hour = (whole // 3600) % 24
    weekday = (whole // 86400 + 3) % 7  # 1970-01-01 was a Thursday
    return np.where(missing, 24, hour), np.where(missing, 7, weekday)
