"""Derived signals every stage agrees on: watch ratio and what counts as a positive."""

from __future__ import annotations

import polars as pl

from reelrec.config import DataConfig


def watch_ratio_expr(columns: list[str]) -> pl.Expr:
    """Watch ratio: the ``watch_ratio`` column, else watch / video seconds; null if unknown."""
    ratio = pl.col("watch_seconds") / pl.col("video_seconds")
    if "watch_ratio" in columns:
        ratio = pl.col("watch_ratio").fill_null(ratio)
    return ratio.alias("watch_ratio")


def positive_expr(columns: list[str], cfg: DataConfig) -> pl.Expr:
    """True for a positive interaction.

    Engagement (like, share, comment, follow) or a watch ratio at or above
    ``cfg.positive_watch_ratio`` is positive; for rated data without watch time, a rating at or
    above ``cfg.positive_min_rating``; rows with neither signal (implicit feedback) are positive.
    """
    engaged = pl.col("liked") | pl.col("shared") | pl.col("commented") | pl.col("followed")
    ratio = watch_ratio_expr(columns)
    fallback: pl.Expr = pl.lit(True)
    if "rating" in columns:
        fallback = (pl.col("rating") >= cfg.positive_min_rating).fill_null(True)
    watched = pl.when(ratio.is_null()).then(fallback).otherwise(ratio >= cfg.positive_watch_ratio)
    return (engaged | watched).alias("positive")
