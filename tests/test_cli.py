"""The command line: the documented commands work, and user mistakes give one line and exit status 2."""
import subprocess
import sys

import numpy as np
import pytest

from hwmoe.cli import main

from hwmoe.numerics.floating import cosine


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    assert main(["export", "--preset", "tiny", "--seed", "4", "-o", str(d / "tiny.onnx")]) == 0
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.save(d / "x.npy", x)
    return d


def one_error_line(capsys, code, *needles):
    out = capsys.readouterr()
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in out.err


def test_info_reports_graph_and_macs(tiny, capsys):
    assert main(["info", str(tiny / "tiny.onnx")]) == 0
    out = capsys.readouterr().out
    for word in ("attention", "router", "experts", "layernorm", "patch_embed", "head", "GMAC", "top-2"):
        assert word in out


def test_info_m3vit_t_total(tmp_path, capsys):
    assert main(["export", "--preset", "m3vit-t", "-o", str(tmp_path / "t.onnx")]) == 0
    assert main(["info", str(tmp_path / "t.onnx")]) == 0
    out = capsys.readouterr().out
    total = float(out.split("total: ")[1].split(" GMAC")[0])
    assert 0.75 < total < 0.80            # ~0.78 GMAC per 128x256 image


def test_run_float_and_fixed(tiny, capsys):
    model, x = str(tiny / "tiny.onnx"), str(tiny / "x.npy")
    assert main(["run", model, "--input", x, "-o", str(tiny / "yf.npy")]) == 0
    assert main(["run", model, "--input", x, "-o", str(tiny / "yq.npy"), "--precision", "w16a16"]) == 0
    assert (tiny / "tiny.w16a16.plan.json").exists()
    yf, yq = np.load(tiny / "yf.npy"), np.load(tiny / "yq.npy")
    assert yf.shape == yq.shape == (2, 10)
    assert cosine(yf, yq) > 0.99
    # a second run reuses the saved plan and gives identical words
    assert main(["run", model, "--input", x, "-o", str(tiny / "yq2.npy"), "--precision", "w16a16"]) == 0
    assert np.array_equal(np.load(tiny / "yq2.npy"), yq)


def test_user_mistakes_give_one_line(tiny, tmp_path, capsys):
    model = str(tiny / "tiny.onnx")
    one_error_line(capsys, main(["info", str(tmp_path / "missing.onnx")]), "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    one_error_line(capsys, main(["info", str(tmp_path / "junk.onnx")]), "junk.onnx")
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 16, 16), np.float32))
    one_error_line(capsys, main(["run", model, "--input", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "y.npy")]),
                   "shape")
    assert not (tmp_path / "y.npy").exists()
    (tmp_path / "bad2.npy").write_text("nope")
    one_error_line(capsys, main(["run", model, "--input", str(tmp_path / "bad2.npy"), "-o", str(tmp_path / "y.npy")]),
                   "bad2.npy")
    one_error_line(capsys, main(["export", "--preset", "tiny", "--set", "dim=33", "-o", str(tmp_path / "a.onnx")]),
                   "divisible")
    assert not (tmp_path / "a.onnx").exists()
    one_error_line(capsys, main(["export", "--preset", "tiny", "--block", "7", "-o", str(tmp_path / "b.onnx")]),
                   "block 7")
    one_error_line(capsys, main(["sim", "--kernel", "gelu", "--set", "lanes=3"]), "lanes")


def test_help_everywhere():
    for cmd in ([], ["export"], ["info"], ["run"], ["sim"], ["hls"], ["search"], ["sweep"], ["boards"], ["demo"],
                ["build"], ["run-board"]):
        r = subprocess.run([sys.executable, "-m", "hwmoe.cli", *cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: hwmoe" in r.stdout


def test_internal_error_is_not_a_user_mistake(monkeypatch, capsys):
    """A bug (any exception that is not a UserError) exits 1 and says so; --debug re-raises it."""
    import hwmoe.boards

    def broken():
        raise RuntimeError("list index out of range\nsecond line")
    monkeypatch.setattr(hwmoe.boards, "list_boards", broken)
    assert main(["boards"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" in err[0] and "RuntimeError" in err[0] and "--debug" in err[0]
    with pytest.raises(RuntimeError):
        main(["--debug", "boards"])


def test_help_does_not_import_torch_or_optuna():
    """``hwmoe --help`` stays fast: building the parser imports neither torch nor optuna."""
    code = ("import sys, hwmoe.cli; hwmoe.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'optuna', 'onnx') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
