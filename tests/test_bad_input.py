"""Hostile input (issue 13): every refusal is one line with exit 2 naming what and where, nothing is left
half-written or behind, Ctrl-C is one line with exit 130."""
import errno
import os
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
