"""Request context features: hour of day and weekday from epoch seconds."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reelrec.features.definitions import context_of


@given(st.one_of(st.floats(-4e9, 4e9), st.just(float("nan"))))
def test_context_of_one_request_equals_the_batch_rule(second: float) -> None:
    one = context_of(np.array([second]))
    batch = context_of(np.array([second, 0.0]))
    assert [int(one[0][0]), int(one[1][0])] == [int(batch[0][0]), int(batch[1][0])]
    assert one[0].dtype == batch[0].dtype
    assert one[1].dtype == batch[1].dtype


def test_context_of_known_times() -> None:
    hour, weekday = context_of(np.array([0.0, 3600 * 25 + 5, float("nan")]))
    assert hour.tolist() == [0, 1, 24]  # 1970-01-01 00:00 was a Thursday
    assert weekday.tolist() == [3, 4, 7]
