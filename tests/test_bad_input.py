"""Hostile input (issue 13): every refusal is one line with exit 2 naming what and where, nothing is left
half-written or behind, Ctrl-C is one line with exit 130."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hwmoe.cli import main

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    assert main(["export", "--preset", "tiny", "-o", str(d / "tiny.onnx")]) == 0
    np.save(d / "x.npy", np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    return d


def one_error_line(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def files_in(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def disk_full_after(n_bytes: int):
    """A write function that writes ``n_bytes`` and then fails as a full disk does."""
    def write(self, data, *args, **kwargs):
        with open(self, "w") as f:
            f.write(data[:n_bytes])
        raise OSError(errno.ENOSPC, "No space left on device")
    return write


# ------------------------------------------------------------------------------------------- 1. lock hang
def test_resume_with_relative_folder_and_dangling_lock(tmp_path):
    """A lock symlink left by a killed run with a relative folder dangles; Optuna then spun forever."""
    cmd = [sys.executable, "-m", "hwmoe.cli", "search", "--preset", "tiny", "--board", "zcu102", "-o", "r"]
    subprocess.run(cmd + ["--trials", "3"], cwd=tmp_path, env=ENV, check=True, capture_output=True)
    os.symlink("r/optuna.journal", tmp_path / "r" / "optuna.journal.lock")
    r = subprocess.run(cmd + ["--trials", "6"], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_journal_lock_target_is_absolute(tmp_path, monkeypatch):
    """The lock a killed run leaves must point at the journal wherever it is resolved from."""
    from hwmoe.search.storage import make_storage
    monkeypatch.chdir(tmp_path)
    lock = make_storage(None, "r")._backend._lock
    lock.acquire()
    try:
        assert os.path.isabs(os.readlink(tmp_path / "r" / "optuna.journal.lock"))
    finally:
        lock.release()


# ------------------------------------------------------------------------------------ 2. half-written outputs
def test_run_on_a_full_disk_leaves_no_output(tiny, tmp_path, capsys, monkeypatch):
    def half_save(f, array, *args, **kwargs):
        f.write(b"\x93NUMPY")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "save", half_save)
    out = tmp_path / "y.npy"
    code = main(["run", str(tiny / "tiny.onnx"), "--input", str(tiny / "x.npy"), "-o", str(out)])
    one_error_line(capsys, code, str(out), "No space left")
    assert files_in(tmp_path) == []


def test_plan_and_search_json_are_replaced_whole(tmp_path, monkeypatch):
    """A failed write keeps the previous file (it used to be truncated in place)."""
    from hwmoe.errors import UserError
    from hwmoe.numerics.plan import Plan
    from hwmoe.search import search_command
    plan_path = tmp_path / "p.json"
    plan = Plan("w16a16")
    plan.save(plan_path)
    before = plan_path.read_text()
    monkeypatch.setattr(Path, "write_text", disk_full_after(10))
    with pytest.raises(UserError, match="p.json"):
        plan.save(plan_path)
    assert plan_path.read_text() == before
    with pytest.raises(UserError, match="search.json"):
        search_command("tiny", "zcu102", trials=2, out_dir=tmp_path / "s", quiet=True)
    assert not (tmp_path / "s" / "search.json").exists()
    assert [p.name for p in tmp_path.iterdir()] in (["p.json", "s"], ["s", "p.json"])
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["optuna.journal"]


def test_hls_failure_leaves_no_partial_project(tmp_path, capsys, monkeypatch):
    import hwmoe.backends.hls.project as project

    def full(path, values):
        Path(path).write_text("12\n")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(project, "write_words", full)
    code = main(["hls", "--kernel", "gelu", "-o", str(tmp_path / "a" / "proj")])
    one_error_line(capsys, code, "proj", "No space left")
    assert files_in(tmp_path) == []


# ------------------------------------------------------------------------------------------ 3. board files
def _alias_bomb(path: Path, levels: int) -> Path:
    """zcu102's file with a description of 10**levels strings made of a few hundred bytes of aliases."""
    from hwmoe.boards import BOARDS_DIR
    lines = [line for line in (BOARDS_DIR / "zcu102.yaml").read_text().splitlines()
             if not line.startswith(("description", "#", "name"))]
    lines += ["name: bomb", "description:", "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_board_file_with_aliases_is_refused_at_once(tmp_path):
    from hwmoe.boards import BoardError, load_board
    bomb = _alias_bomb(tmp_path / "bomb.yaml", 7)
    assert bomb.stat().st_size < 1500
    t0 = time.perf_counter()
    with pytest.raises(BoardError, match="alias") as e:
        load_board(str(bomb))
    assert time.perf_counter() - t0 < 1 and len(str(e.value)) < 200 and "bomb.yaml" in str(e.value)


@pytest.mark.parametrize("nest", [("[", "]"), ("{a: ", "}")])
def test_deeply_nested_board_file_names_the_file(tmp_path, nest):
    from hwmoe.boards import BoardError, load_board
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\ndescription: " + nest[0] * 3000 + "1" + nest[1] * 3000 + "\n")
    with pytest.raises(BoardError, match="deep.yaml.*nested"):
        load_board(str(path))


def test_folder_given_as_board_file(tmp_path, capsys):
    code = main(["search", "--preset", "tiny", "--board", f"{tmp_path}/", "-o", str(tmp_path / "s")])
    one_error_line(capsys, code, str(tmp_path), "is a directory")


# ------------------------------------------------------------------------------------------------ 4. Ctrl-C
def _interrupt(args, started: Path, cwd) -> subprocess.CompletedProcess:
    """Run ``hwmoe ARGS`` and press Ctrl-C (SIGINT to the process group) once ``started`` exists; the result
    carries ``seconds`` from Ctrl-C to the exit."""
    p = subprocess.Popen([sys.executable, "-m", "hwmoe.cli", *args], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 30
    while not started.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGINT)
    t0 = time.perf_counter()
    out, err = p.communicate(timeout=20)
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    r.seconds = time.perf_counter() - t0
    return r


#: runs ``hwmoe ARGS`` and sends itself SIGINT when the module ``sys.argv[1]`` is first imported
INTERRUPT_AT_IMPORT = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
sys.meta_path.insert(0, Interrupt())
from hwmoe.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("module", ["numpy", "onnx", "hwmoe.reference"])
def test_ctrl_c_during_start_up(tiny, tmp_path, module):
    """While ``hwmoe run`` imports its modules: one line, exit 130, no traceback, nothing written.  An empty
    import cache: a cached graph would not import onnx at all."""
    (tmp_path / "m.onnx").write_bytes((tiny / "tiny.onnx").read_bytes())
    r = subprocess.run([sys.executable, "-c", INTERRUPT_AT_IMPORT, module, "run", "m.onnx",
                        "--input", str(tiny / "x.npy"), "-o", "y.npy", "--precision", "w8a8"], cwd=tmp_path,
                       env={**ENV, "HWMOE_CACHE": str(tmp_path.parent / f"{tmp_path.name}-cache")},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 130 and r.stderr == "hwmoe: interrupted\n", r.stderr
    assert files_in(tmp_path) == ["m.onnx"]


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_during_search_then_resume(tmp_path, workers):
    """Mid-trial: no Optuna trial traceback, no lock left behind (the next run would wait 30 s).  A worker
    still starting when Ctrl-C comes is interrupted too, not killed 10 s later (maybe holding the lock)."""
    args = ["search", "--preset", "m3vit-t", "--board", "zcu102", "--workers", str(workers), "-o", "s"]
    r = _interrupt([*args, "--trials", "5000"], tmp_path / "s" / "optuna.journal", tmp_path)
    assert r.returncode == 130 and r.seconds < 5, (r.seconds, r.stderr)
    assert r.stderr.endswith("hwmoe: interrupted\n") and "Traceback" not in r.stderr and "Trial" not in r.stderr
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["optuna.journal"]
    # (the search compiles m3vit-t's program to price designs: a few seconds before its first trial, so the
    # interrupted run may have completed none and the resumed one needs enough trials to find a fitting design)
    r = subprocess.run([sys.executable, "-m", "hwmoe.cli", *args, "--trials", "20"], cwd=tmp_path, env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Forcibly" not in r.stderr, r.stderr


def test_ctrl_c_during_sweep_over_workers(tmp_path):
    """Mid-sweep on two pool processes: the one line only (no warning of the pool's semaphores from
    multiprocessing's resource tracker after it)."""
    args = ["sweep", "--preset", "m3vit-t", "--boards", "zcu102,u280", "--trials", "5000", "--workers", "2", "-o", "w"]
    r = _interrupt(args, tmp_path / "w" / "zcu102" / "optuna.journal", tmp_path)
    assert r.returncode == 130, r.stderr
    assert r.stderr.endswith("hwmoe: interrupted\n") and "Traceback" not in r.stderr and "Warning" not in r.stderr


# ---------------------------------------------------------------------------------------- 5. invalid numbers
@pytest.mark.parametrize("bad, needle", [(np.nan, "NaN"), (np.inf, "NaN or infinite"), (1j, "complex"),
                                         ("text", "<U4"), (None, "empty batch")])
@pytest.mark.parametrize("precision", ["float", "w16a16"])
def test_run_refuses_bad_input_values(tiny, tmp_path, capsys, bad, needle, precision):
    model = tmp_path / "m.onnx"
    model.write_bytes((tiny / "tiny.onnx").read_bytes())
    x = np.load(tiny / "x.npy")
    if bad is None:
        x = x[:0]
    elif isinstance(bad, str):
        x = np.full(x.shape, bad)
    else:
        x = x.astype(np.result_type(x, bad))
        x[0, 0, 0, 0] = bad
    np.save(tmp_path / "bad.npy", x)
    code = main(["run", str(model), "--input", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "y.npy"),
                 "--precision", precision])
    one_error_line(capsys, code, "--input", "bad.npy", needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy", "m.onnx"]      # no plan, no output


@pytest.mark.parametrize("setting", ["eps=-1", "eps=nan", "eps=0", "eps=inf", "patch=0", "heads=0"])
def test_export_refuses_bad_model_fields(tmp_path, capsys, setting):
    code = main(["export", "--preset", "tiny", "--set", setting, "-o", str(tmp_path / "d" / "m.onnx")])
    one_error_line(capsys, code, setting.split("=")[0] + "=")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("settings, needle", [(["dim=65536", "heads=1"], "2 GB an ONNX file holds"),
                                              (["img_h=100000"], "50,001 tokens")])
def test_huge_model_sizes_are_refused_before_allocating(tmp_path, capsys, settings, needle):
    argv = ["export", "--preset", "tiny", *[a for s in settings for a in ("--set", s)], "-o", str(tmp_path / "m.onnx")]
    one_error_line(capsys, main(argv), needle)
    assert files_in(tmp_path) == []


def test_out_of_memory_is_a_user_error(monkeypatch, capsys):
    """Sizes no machine can hold (e.g. ``--set entries=1000000000``): one line, not an internal error."""
    import hwmoe.boards

    def huge():
        raise MemoryError("Unable to allocate 7.45 GiB for an array")
    monkeypatch.setattr(hwmoe.boards, "list_boards", huge)
    one_error_line(capsys, main(["boards"]), "more memory than this machine has", "7.45 GiB")


def test_kernel_size_zero_names_the_field(capsys):
    one_error_line(capsys, main(["sim", "--kernel", "gelu", "--set", "lanes=0"]), "lanes=0", "positive")


# -------------------------------------------------------------------------------------------- 6. storage
@pytest.mark.parametrize("storage, workers, needle", [(":memory:", "2", "in-memory"),
                                                      ("sqlite:///", "1", "no database file"),
                                                      ("redis://localhost:1/0", "1", "cannot open")])
def test_storage_problems_are_one_line(tmp_path, capsys, storage, workers, needle):
    code = main(["search", "--preset", "tiny", "--board", "zcu102", "--trials", "2", "--storage", storage,
                 "--workers", workers, "-o", str(tmp_path / "s")])
    one_error_line(capsys, code, f"--storage {storage}", needle)
    assert files_in(tmp_path) == []


# ------------------------------------------------------------------------------------------- 7. messages
def test_corrupt_or_foreign_plan_names_the_file(tiny, tmp_path, capsys):
    model, x = str(tiny / "tiny.onnx"), str(tiny / "x.npy")
    for text in ("{not json", "[1, 2]", '{"version": 1, "precision": "w16a16"}',
                 json.dumps({"version": 1, "precision": "w16a16", "gelu_entries": 1, "attention_block": 8,
                             "tensors": {}, "params": {}, "internal": {}})):
        (tmp_path / "p.json").write_text(text)
        code = main(["run", model, "--input", x, "-o", str(tmp_path / "y.npy"), "--precision", "w16a16",
                     "--plan", str(tmp_path / "p.json")])
        one_error_line(capsys, code, "p.json")
        assert not (tmp_path / "y.npy").exists()


def test_calibration_input_is_named(tiny, tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.zeros((2, 3, 8, 8)))
    code = main(["run", str(tiny / "tiny.onnx"), "--input", str(tiny / "x.npy"), "-o", str(tmp_path / "y.npy"),
                 "--precision", "w8a8", "--plan", str(tmp_path / "p.json"), "--calib", str(tmp_path / "c.npy")])
    one_error_line(capsys, code, "--calib", "c.npy", "shape")
    one_error_line(capsys, main(["hls", "--preset", "tiny", "--set", "calib=0", "-o", str(tmp_path / "h")]),
                   "calib=0", "no such file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy"]


def test_directory_given_as_a_file(tmp_path, capsys):
    one_error_line(capsys, main(["info", str(tmp_path)]), "is a directory")
    one_error_line(capsys, main(["export", "--preset", "tiny", "--weights", str(tmp_path), "-o",
                                 str(tmp_path / "m.onnx")]), "--weights", "is a directory")


def test_checkpoint_problems_name_the_file(tmp_path, capsys):
    import torch
    from hwmoe.frontend.model import build_model, make_config
    torch.save({"anything": ValueError("not a tensor")}, tmp_path / "unsafe.pt")
    line = one_error_line(capsys, main(["export", "--preset", "tiny", "--weights", str(tmp_path / "unsafe.pt"),
                                        "-o", str(tmp_path / "m.onnx")]), "--weights", "unsafe.pt")
    assert "weights_only=False" not in line
    state = build_model(make_config("tiny", {"dim": "64"})).state_dict()
    torch.save(state, tmp_path / "big.pt")
    line = one_error_line(capsys, main(["export", "--preset", "tiny", "--weights", str(tmp_path / "big.pt"),
                                        "-o", str(tmp_path / "m.onnx")]), "big.pt", "size mismatch for")
    assert "64]) from checkpoint" in line and "current model is torch.Size([1, 17, 32])" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.pt", "unsafe.pt"]


# ---------------------------------------------------------------------------------------- 8. output names
def test_run_writes_exactly_the_named_file(tiny, tmp_path, capsys):
    out = tmp_path / "y.out"
    assert main(["run", str(tiny / "tiny.onnx"), "--input", str(tiny / "x.npy"), "-o", str(out)]) == 0
    assert f"wrote {out} " in capsys.readouterr().out
    assert files_in(tmp_path) == ["y.out"] and np.load(out).shape == (2, 10)


@pytest.mark.parametrize("target", ["/dev/full", "DIR"])
def test_run_refuses_a_device_or_folder_as_output(tiny, tmp_path, capsys, target):
    out = str(tmp_path) if target == "DIR" else target
    before = sorted(os.listdir(Path(out).parent))
    code = main(["run", str(tiny / "tiny.onnx"), "--input", str(tiny / "x.npy"), "-o", out])
    one_error_line(capsys, code, out)
    assert sorted(os.listdir(Path(out).parent)) == before       # no /dev/full.npy, no temporary file


@pytest.mark.parametrize("argv", [["search", "--preset", "tiny", "--board", "zcu102", "-o", "{f}"],
                                  ["search", "--preset", "tiny", "--board", "zcu102", "--storage",
                                   "sqlite:///{f}/x.db", "-o", "{d}/s"],
                                  ["sweep", "--preset", "tiny", "--boards", "zcu102", "-o", "{f}/w"],
                                  ["export", "--preset", "tiny", "-o", "{f}/m.onnx"]])
def test_output_inside_a_file_is_refused(tmp_path, capsys, argv):
    (tmp_path / "f").write_text("")
    argv = [a.format(f=tmp_path / "f", d=tmp_path) for a in argv]
    one_error_line(capsys, main(argv), f"{tmp_path / 'f'}: exists and is not a folder")
    assert files_in(tmp_path) == ["f"]


# ---------------------------------------------------------------------------------- 9, 10. sweep, leftovers
@pytest.mark.parametrize("boards", ["", ",,,"])
def test_sweep_without_boards_is_refused(tmp_path, capsys, boards):
    code = main(["sweep", "--preset", "tiny", "--boards", boards, "--trials", "2", "-o", str(tmp_path / "w")])
    one_error_line(capsys, code, "--boards")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("args", [["--board", "nope"], ["--board", "zcu102", "--precision", "w3a3"],
                                  ["--board", "zcu102", "--trials", "0"]])
def test_refused_search_leaves_no_folder(tmp_path, capsys, args):
    code = main(["search", "--preset", "tiny", *args, "-o", str(tmp_path / "a" / "s")])
    one_error_line(capsys, code)
    assert files_in(tmp_path) == []


def test_failed_export_leaves_no_parent_folders(tmp_path, capsys):
    (tmp_path / "w.pt").write_bytes(b"garbage")
    code = main(["export", "--preset", "tiny", "--weights", str(tmp_path / "w.pt"), "-o",
                 str(tmp_path / "a" / "b" / "m.onnx")])
    one_error_line(capsys, code, "w.pt")
    assert files_in(tmp_path) == ["w.pt"]


# --------------------------------------------------------------------------------------- 11. argparse
@pytest.mark.parametrize("argv, needle", [([], "COMMAND"), (["run"], "--input"),
                                          (["search", "--preset", "huge", "--board", "x"], "huge"),
                                          (["export", "--preset", "tiny", "--seed", "x", "-o", "m"], "--seed")])
def test_argument_errors_are_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as e:
        main(argv)
    one_error_line(capsys, e.value.code, needle)


# ------------------------------------------------------------------------------------------ 12. sim builds
def test_sim_builds_into_the_cache(tmp_path, monkeypatch, capsys):
    import hwmoe.backends.rtl.simulate as simulate
    seen = {}

    def fake(name, simulator, overrides, seed, work=None):
        seen["work"] = work
        raise SystemExit(0)
    monkeypatch.setattr(simulate, "simulate_kernel", fake)
    monkeypatch.setenv("HWMOE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(SystemExit):
        main(["sim", "--kernel", "gelu"])
    assert seen["work"] == tmp_path / "cache" / "sim"
    with pytest.raises(SystemExit):
        main(["sim", "--kernel", "gelu", "--build-dir", str(tmp_path / "b")])
    assert seen["work"] == tmp_path / "b"


# ---------------------------------------------------------------------------------- the package without extras
HW_MODULES = ("optuna", "matplotlib", "tqdm", "cocotb", "cocotb_tools", "cocotbext", "hls4ml", "pyverilog")
WITHOUT_EXTRAS = ("import sys\nfor m in {mods!r}: sys.modules[m] = None\n"
                  "from hwmoe.cli import main\nsys.exit(main(sys.argv[1:]))\n")


def test_without_extras_help_works_and_commands_name_the_extra(tmp_path):
    script = tmp_path / "bare.py"
    script.write_text(WITHOUT_EXTRAS.format(mods=HW_MODULES))
    run = lambda *a: subprocess.run([sys.executable, str(script), *a], cwd=tmp_path, env=ENV, capture_output=True,
                                    text=True, timeout=60)
    for cmd in ([], ["export"], ["info"], ["run"], ["sim"], ["hls"], ["search"], ["sweep"], ["boards"], ["demo"],
                ["build"]):
        r = run(*cmd, "--help")
        assert r.returncode == 0 and "usage: hwmoe" in r.stdout, (cmd, r.stderr)
    for cmd in (["search", "--preset", "tiny", "--board", "zcu102", "-o", "s"],
                ["sweep", "--preset", "tiny", "-o", "w"], ["sim", "--kernel", "gelu"],
                ["hls", "--kernel", "gelu", "--csim", "-o", "h"], ["build", "--preset", "tiny", "-o", "b"]):
        r = run(*cmd)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (cmd, r.stderr)
        assert "pip install 'hwmoe[hw]'" in r.stderr, r.stderr
    assert files_in(tmp_path) == ["bare.py"]
