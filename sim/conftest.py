import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def sim_work():
    """Builds are kept under build/sim and reused across runs (one per kernel, simulator, parameters)."""
    path = Path(__file__).resolve().parent.parent / "build" / "sim"
    path.mkdir(parents=True, exist_ok=True)
    return path
