import pytest


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory):
    """Exported ONNX files shared by the tests of one session."""
    return tmp_path_factory.mktemp("onnx")
