"""The accelerator's memory image: containers, region alignment, and the graph run through the image bytes
equal word for word to the bit-accurate reference."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwmoe import ir
from hwmoe.accel.image import (ALIGN, ImageLayout, build_image, container_bytes, read_tensor,
                               run_through_image)
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.reference import FixedRunner


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
    rows = np.frombuffer(data, np.uint8).reshape(region.rows, region.stride)
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


@pytest.fixture(scope="module")
def tiny():
    model = build_model(make_config("tiny"), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(3)])
    return graph_from_model(model), images


@pytest.fixture(scope="module", params=["w16a32", "w16a16", "w8a8"])
def tiny_plan(tiny, request):
    graph, images = tiny
    return calibrate(graph, request.param, images[:2])


def test_regions_aligned_and_disjoint(tiny, tiny_plan):
    graph, _ = tiny
    layout, memory = build_image(graph, tiny_plan)
    assert len(memory) == layout.size
    end = 0
    for region in layout.regions.values():                 # allocated one after another
        assert region.offset % ALIGN == 0 and region.stride % ALIGN == 0
        assert region.offset >= end and region.stride >= region.cols * region.container
        end = region.offset + region.size
    assert end == layout.size
    tensors = {t for n in graph.nodes for t in n.outputs} | {graph.input}
    assert tensors | set(FixedRunner(graph, tiny_plan).raw) <= set(layout.regions)


def test_parameters_in_image(tiny, tiny_plan):
    graph, _ = tiny
    layout, memory = build_image(graph, tiny_plan)
    for key, raw in FixedRunner(graph, tiny_plan).raw.items():
        assert np.array_equal(read_tensor(layout, memory, key).reshape(raw.shape), raw)


def test_head_by_head_read_equals_row_read(tiny, tiny_plan):
    graph, images = tiny
    attn = next(n for n in graph.nodes if isinstance(n, ir.Attention))
    layout, memory = build_image(graph, tiny_plan)
    region = layout.regions[attn.inputs[0]]
    raw = np.arange(region.rows * region.cols).reshape(region.rows, region.cols) % 100 - 50
    layout.store(memory, region, raw)
    assert np.array_equal(read_tensor(layout, memory, attn.inputs[0], attn.heads), raw)
    assert np.array_equal(read_tensor(layout, memory, attn.inputs[0]), raw)


def test_run_through_image_equals_reference(tiny, tiny_plan):
    graph, images = tiny
    assert np.array_equal(run_through_image(graph, tiny_plan, images[2]),
                          FixedRunner(graph, tiny_plan).run_raw(images[2]))
