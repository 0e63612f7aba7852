"""Ranking stage: a multi-task ranker over retrieved candidates (watch ratio, like, completion)."""
