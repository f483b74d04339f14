"""pytest parameters from a kernel's shared parameter points (``POINTS`` at the end of hwmoe/kernels/<k>.py):
the RTL testbenches run every point on each of its simulators."""
import pytest


def point_runs(points: dict) -> list:
    """(simulator, overrides) for every point and simulator, with ids ``<point>-<simulator>``."""
    return [pytest.param(sim, point.overrides, id=f"{name}-{sim}")
            for name, point in points.items() for sim in point.simulators]


def point_names(points: dict, simulator: str) -> list[str]:
    """The names of the points that run on ``simulator``."""
    return [name for name, point in points.items() if simulator in point.simulators]
