"""pytest parameters from a kernel's shared parameter points (``POINTS`` at the end of hwmoe/kernels/<k>.py):
the RTL testbenches run every point on each of its simulators, except the full-size ones
(``benchmarks/kernels_full_size.py`` runs those)."""
import pytest


def point_runs(points: dict) -> list:
    """(simulator, overrides) for every point and simulator, with ids ``<point>-<simulator>``."""
    return [pytest.param(sim, point.overrides, id=f"{name}-{sim}")
            for name, point in points.items() if not point.full_size for sim in point.simulators]


def point_names(points: dict, simulator: str) -> list[str]:
    """The names of the points that run on ``simulator``."""
    return [name for name, point in points.items() if not point.full_size and simulator in point.simulators]
