"""The accelerator's program and image: engines built for every call, regions aligned and disjoint, parameters
in the engines' stream order, commands that decode to what was compiled, and the Python model of the
accelerator running the program equal word for word to the bit-accurate reference at every precision."""
import struct
from types import SimpleNamespace

import numpy as np
import pytest

from hwmoe.accel import executor
from hwmoe.accel.dma import read_beats
from hwmoe.accel.engines import ENGINES, UnsupportedGraph, calls
from hwmoe.accel.image import ALIGN
from hwmoe.accel.program import CMD_BYTES, CMD_WORDS, READERS, compile_program, padded_rows
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.reference import FixedRunner


@pytest.fixture(scope="module")
def tiny():
    model = build_model(make_config("tiny"), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(3)])
    return graph_from_model(model), images


@pytest.fixture(scope="module", params=["w16a32", "w16a16", "w8a8"])
def tiny_program(tiny, request):
    graph, images = tiny
    return compile_program(graph, calibrate(graph, request.param, images[:2]))


def test_calls_fuse_gelu_and_split_the_patch_embedding(tiny, tiny_program):
    graph, _ = tiny
    program_calls = calls(graph, tiny_program.plan)
    assert [c.engine for c in program_calls[:2]] == ["moe", "add"]             # patch embedding, + position
    # one MAC array: with an MoE layer in the graph, every linear call runs on the MoE engine in dense mode
    dense = [c for c in program_calls if c.node.kind in ("patch_embed", "linear", "head") and c.engine != "add"]
    assert dense and all(c.engine == "moe" and c.run.dense for c in dense)
    assert "linear" not in tiny_program.engines.params
    fused = [c for c in program_calls if c.gelu is not None]
    assert len(fused) == sum(n.kind == "gelu" for n in graph.nodes) == 1
    assert not any(c.node.kind == "gelu" for c in program_calls)
    assert len(tiny_program.commands) == len(program_calls)


def test_regions_aligned_and_disjoint(tiny_program):
    layout = tiny_program.layout
    assert len(tiny_program.memory) == layout.size
    end = 0
    for region in layout.regions.values():                 # allocated one after another
        assert region.offset % ALIGN == 0 and region.size % ALIGN == 0
        assert region.offset >= end and region.stride >= region.cols * region.container
        end = region.offset + region.size
    assert end == layout.size


def test_linear_weights_in_stream_order(tiny, tiny_program):
    """A linear command's weight slot (on the MoE engine: slot 2) streams W row by row, each row padded to whole
    T-word beats."""
    graph, _ = tiny
    command = next(c for c in tiny_program.commands if c.node.endswith("attn.q"))
    assert command.engine == "moe" and command.controls["dense"] == 1 and command.reads[1] is None
    t_in = tiny_program.engines.params["moe"].t
    w = FixedRunner(graph, tiny_program.plan).raw[f"{command.node}.weight"]
    beats = read_beats(command.reads[2].d, bytes(tiny_program.memory), t_in)
    assert np.array_equal(beats.reshape(w.shape[0], -1), padded_rows(w, t_in))


def test_commands_decode_to_what_was_compiled(tiny_program):
    memory = tiny_program.memory
    pc = tiny_program.program_offset
    for command in tiny_program.commands:
        words = struct.unpack(f"<{CMD_WORDS}I", bytes(memory[pc:pc + CMD_BYTES]))
        engine, controls, slots = executor.decode(words, tiny_program)
        assert (engine, controls) == (command.engine, command.controls)
        assert slots[:len(command.reads)] == list(command.reads) and slots[READERS] == command.write
        pc += CMD_BYTES
    assert executor.decode(struct.unpack(f"<{CMD_WORDS}I", bytes(memory[pc:pc + CMD_BYTES])), tiny_program) is None
    assert {c.engine for c in tiny_program.commands} == set(ENGINES) - {"linear"}


def test_program_run_equals_reference(tiny, tiny_program):
    graph, images = tiny
    for image in images:
        assert np.array_equal(executor.run(tiny_program, image), FixedRunner(graph, tiny_program.plan).run_raw(image))


def test_gelu_without_a_linear_is_refused(tiny, tiny_program):
    """A GELU whose input no linear layer produces has no engine to run on."""
    graph, _ = tiny
    gelu = next(n for n in graph.nodes if n.kind == "gelu")
    with pytest.raises(UnsupportedGraph, match="GELU"):
        calls(SimpleNamespace(nodes=[gelu], shapes=graph.shapes), tiny_program.plan)


def test_without_moe_the_linear_engine_stays():
    """A model without MoE layers (tiny at depth 1: one dense block) keeps the plain linear engine and no MoE
    engine; its program still equals the reference."""
    model = build_model(make_config("tiny", {"depth": "1"}), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(2)])
    graph = graph_from_model(model)
    program = compile_program(graph, calibrate(graph, "w16a16", images[:1]))
    assert "linear" in program.engines.params and "moe" not in program.engines.params
    assert all(c.engine == "linear" for c in program.calls if c.node.kind in ("patch_embed", "linear", "head")
               and c.engine != "add")
    assert np.array_equal(executor.run(program, images[1]), FixedRunner(graph, program.plan).run_raw(images[1]))


# ---- the scratchpad (hwmoe.accel.scratch) ----------------------------------------------------------------------
def test_allocate_reuses_space_after_the_last_reader_and_spills_in_order():
    """First fit in program order: a tensor takes the lowest room no live tensor holds; its room is free after
    its last reader; a tensor that finds no room stays in the image, and a later smaller one may still fit."""
    from hwmoe.accel.scratch import allocate
    ranges = {"a": (0, 1), "b": (1, 2), "c": (2, 3), "big": (3, 4), "d": (3, 5)}
    sizes = {"a": 128, "b": 128, "c": 64, "big": 256, "d": 64}
    assert allocate(ranges, sizes, 256) == {"a": 0, "b": 128, "c": 0, "d": 64}     # big spills, d fits after c
    assert allocate(ranges, sizes, 0) == {}
    assert allocate(ranges, sizes, 1 << 20) == {"a": 0, "b": 128, "c": 0, "big": 64, "d": 320}


@pytest.mark.parametrize("kib", [64, 2])
def test_scratch_placement(tiny, kib):
    """Only intermediate tensors go on chip, every descriptor of a tensor carries its flag, no two tensors live
    at once overlap in the scratchpad, the image keeps everything else (its regions still back to back), and
    the program with its scratchpad equals the reference."""
    graph, images = tiny
    plan = calibrate(graph, "w16a16", images[:2])
    program = compile_program(graph, plan, scratch_bytes=kib * 1024)
    regions = program.layout.regions
    on_chip = {n: r for n, r in regions.items() if r.scratch}
    assert on_chip and all(r.offset + r.size <= kib * 1024 and r.offset % ALIGN == 0 for r in on_chip.values())
    assert not {graph.input, graph.output, "program", "patch_embed.tokens"} & set(on_chip)
    assert not any(n in FixedRunner(graph, plan).raw for n in on_chip)            # no parameter
    image = [r for r in regions.values() if not r.scratch]
    assert all(a.offset + a.size == b.offset for a, b in zip(image, image[1:]))
    assert image[-1].offset + image[-1].size == program.layout.size == len(program.memory)
    # live ranges from the program without a scratchpad (where every address names one region): tensors
    # live at the same command never overlap, and each on-chip tensor's commands flag its descriptors
    flat = compile_program(graph, plan)
    live = {}
    for i, (c, c_flat) in enumerate(zip(program.commands, flat.commands)):
        for s, s_flat in zip((*c.reads, c.write), (*c_flat.reads, c_flat.write)):
            if s is not None:
                r = next(r for r in flat.layout.regions.values() if r.offset <= s_flat.d.base < r.offset + r.size)
                assert s.scratch == (r.name in on_chip)
                if s.scratch:
                    live[r.name] = (live.get(r.name, (i, i))[0], i)
    assert set(live) == set(on_chip)
    for a in live:
        for b in live:
            overlap_time = live[a][0] <= live[b][1] and live[b][0] <= live[a][1]
            ra, rb = on_chip[a], on_chip[b]
            assert a == b or not overlap_time or ra.offset + ra.size <= rb.offset or rb.offset + rb.size <= ra.offset
    assert np.array_equal(executor.run(program, images[2]), FixedRunner(graph, plan).run_raw(images[2]))


def test_scratch_size_must_be_aligned(tiny):
    graph, images = tiny
    with pytest.raises(ValueError, match="multiple of 64"):
        compile_program(graph, calibrate(graph, "w16a16", images[:2]), scratch_bytes=100)


def test_scratch_size_refused_and_priced(tmp_path):
    """``hwmoe build --scratch-kib`` outside 0..MAX_SCRATCH_KIB is a one-line UserError before anything is
    written; the shell model counts the scratchpad's RAMB36 as yosys infers them (2 at 2 KiB, 8 at 32 KiB on a
    128-bit bus)."""
    from hwmoe.accel.build import MAX_SCRATCH_KIB, build_command
    from hwmoe.cost.shell import scratch_resources, shell_resources
    from hwmoe.errors import UserError
    for kib in (-1, MAX_SCRATCH_KIB + 1):
        with pytest.raises(UserError, match="--scratch-kib"):
            build_command(model=None, preset="tiny", board=None, precision="w16a16", design=None,
                          out=str(tmp_path / "out"), scratch_kib=kib)
    assert not (tmp_path / "out").exists()
    assert [scratch_resources(128, k * 1024).bram36 for k in (2, 32)] == [2, 8]
    assert scratch_resources(512, 32 * 1024).bram36 == 8 and scratch_resources(64, 0).bram36 == 0
    assert "shell_scratch" not in shell_resources(128, 8) and "shell_scratch" in shell_resources(128, 8, 2048)


def test_auto_scratch_size_is_the_fastest_candidate(tiny):
    """``--scratch-kib auto`` on tiny (ideal memory): a power of two up to the first size that holds every
    intermediate tensor (8 KiB), predicted no slower than none or than that size."""
    from hwmoe.accel import timing
    from hwmoe.accel.build import auto_scratch_kib
    from hwmoe.accel.engines import DEFAULT_CHOICE
    graph, images = tiny
    plan = calibrate(graph, "w16a16", images[:2])
    memory = timing.Memory(bus_bytes=16, read_latency=40)
    kib = auto_scratch_kib(graph, plan, DEFAULT_CHOICE, None, 128, memory)
    cycles = {k: timing.total_cycles(compile_program(graph, plan, DEFAULT_CHOICE, image=False,
                                                     scratch_bytes=k * 1024), memory) for k in (0, kib, 8)}
    assert kib in (1, 2, 4, 8) and cycles[kib] <= min(cycles[0], cycles[8]) and cycles[kib] < cycles[0]
