"""The accelerator's memory image: containers (pack and unpack round trips, refusals)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwmoe.accel.image import ImageLayout, container_bytes


def test_container_bytes():
    assert [container_bytes(w) for w in (1, 8, 9, 16, 17, 32)] == [1, 1, 2, 2, 4, 4]
    for bad in (0, 33):
        with pytest.raises(ValueError, match=str(bad)):
            container_bytes(bad)


def _round_trip(width: int, raw: np.ndarray) -> None:
    layout = ImageLayout()
    layout.add("pad", 1, 3, 1)                      # the region under test does not start at 0
    region = layout.add("t", *raw.shape, container_bytes(width))
    data = layout.pack(region, raw)
    assert len(data) == region.size
    assert not any(data[region.rows * region.stride:])                  # padding to the next region is 0
    rows = np.frombuffer(data[:region.rows * region.stride], np.uint8).reshape(region.rows, region.stride)
    assert not rows[:, region.cols * region.container:].any()             # row padding is 0
    # little-endian two's complement: the low container bytes of the value
    word = int(raw[0, 0]) & ((1 << (8 * region.container)) - 1)
    assert bytes(rows[0, :region.container]) == word.to_bytes(region.container, "little")
    assert np.array_equal(layout.unpack(region, data), raw)


@pytest.mark.parametrize("width", range(2, 33))
def test_pack_unpack_extremes(width):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    raw = np.array([[lo, hi, 0, -1, 1], [lo + 1, hi - 1, lo // 2, hi // 2, -2]], np.int64)
    _round_trip(width, raw)


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 32).flatmap(lambda w: st.tuples(
    st.just(w), st.integers(1, 4), st.integers(1, 40),
    st.lists(st.integers(-(1 << (w - 1)), (1 << (w - 1)) - 1), min_size=160, max_size=160))))
def test_pack_unpack_random(case):
    width, rows, cols, values = case
    _round_trip(width, np.array(values[:rows * cols], np.int64).reshape(rows, cols))


def test_pack_refuses_what_does_not_fit():
    layout = ImageLayout()
    region = layout.add("t", 1, 2, 1)
    with pytest.raises(ValueError, match="outside"):
        layout.pack(region, np.array([[0, 128]]))
    with pytest.raises(ValueError, match=r"\[1, 2\]"):
        layout.pack(region, np.zeros((2, 2), np.int64))
