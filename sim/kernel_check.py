"""The pytest side of every kernel testbench: simulate a kernel case and require bit-exact outputs and a cycle
count that agrees with the kernel's formula (within 2% or 16 cycles)."""
from hwmoe.backends.rtl.simulate import SimResult, cycles_agree, simulate_kernel


def assert_kernel(name: str, simulator: str, overrides: dict, work, seed: int = 1) -> SimResult:
    r = simulate_kernel(name, simulator, overrides, seed=seed, work=work)
    assert r.bit_exact, r.summary()
    assert cycles_agree(r.measured_cycles, r.predicted_cycles), r.summary()
    return r
