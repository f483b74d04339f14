import numpy as np
import pytest


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory):
    """Exported ONNX files shared by the tests of one session."""
    return tmp_path_factory.mktemp("onnx")


def cosine(a, b) -> float:
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
