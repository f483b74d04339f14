"""Test markers by what a test needs, so that a developer can run a fast subset:

    rtl    an HDL simulator or Verilator lint (everything under sim/, tests/test_rtl_lint.py)
    hls    g++ builds of the HLS C++ or of ap_types (tests/test_hls*.py, the ap_fixed comparisons)
    yosys  a live yosys synthesis
    slow   full-size (m3vit) models through any face, and the multi-process search tests

``pytest -m "not slow and not rtl and not hls and not yosys"`` is the Python-only check; ``make test`` runs
everything."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
HLS_FILES = {"test_hls.py", "test_hls4ml_ext.py"}
#: tests that start several processes or search a full-size model (tens of seconds each)
SLOW_PROCESS_TESTS = {"test_two_workers_share_one_study", "test_killed_search_resumes", "test_search_with_two_workers",
                      "test_two_processes_share_one_study", "test_killed_worker_loses_no_trial",
                      "test_sweep_spreads_boards_and_precisions_over_workers"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        name = item.originalname or item.name
        if path.parent == ROOT / "sim" or path.name == "test_rtl_lint.py":
            item.add_marker(pytest.mark.rtl)
        if path.name in HLS_FILES or "apfixed" in item.fixturenames:
            item.add_marker(pytest.mark.hls)
        if "yosys" in name:
            item.add_marker(pytest.mark.yosys)
        if "m3vit" in item.name or name in SLOW_PROCESS_TESTS:
            item.add_marker(pytest.mark.slow)
