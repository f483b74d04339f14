"""Sweep plots (matplotlib, Agg backend): stage-1 Pareto fronts, resource use and latency per board."""
from __future__ import annotations

from pathlib import Path

from ..outputs import output_file


def save(fig, path: Path) -> None:
    """Write a figure atomically (the format from the path's suffix, which the temporary name keeps)."""
    with output_file(path) as tmp:
        fig.savefig(tmp, dpi=110)


def plot_sweep(rows: list[dict], results: dict, out: Path, title: str = "") -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    ok = [r for r in rows if r["status"] == "ok"]

    # Pareto fronts of the linear engine (cycles vs DSP) and the attention engine, per board
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, r in results.items():
        for ax, eng in zip(axes, ("linear", "attention")):
            f = r.fronts.get(eng, [])
            ax.plot([p["usage"]["dsp"] for p in f], [p["cycles"] / (r.estimate.clock_mhz * 1e3) for p in f],
                    ".", label=name, alpha=0.7)
    for ax, eng in zip(axes, ("linear", "attention")):
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("DSP"), ax.set_ylabel("engine busy time per image (ms)")
        ax.set_title(f"stage-1 Pareto front: {eng} engine"), ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    paths.append(out / "pareto.png")
    save(fig, paths[-1])
    plt.close(fig)

    # resource utilisation per board
    kinds = ("lut", "ff", "dsp", "bram36", "uram")
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(ok) + 2), 4))
    w = 0.8 / len(kinds)
    for k_i, k in enumerate(kinds):
        ax.bar([i + k_i * w for i in range(len(ok))],
               [100 * r[k] / r[f"{k}_avail"] if r[f"{k}_avail"] else 0 for r in ok], w, label=k.upper())
    ax.axhline(80, color="grey", ls=":", lw=1), ax.axhline(90, color="grey", ls="--", lw=1)
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(ok))], [r["board"] for r in ok])
    ax.set_ylabel("% of device"), ax.set_title(f"resources used ({title})"), ax.legend(fontsize=8, ncol=5)
    fig.tight_layout()
    paths.append(out / "resources.png")
    save(fig, paths[-1])
    plt.close(fig)

    # latency per board
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(ok) + 2), 4))
    bars = ax.bar([r["board"] for r in ok], [r["latency_ms"] for r in ok], color="tab:blue")
    for b_, r in zip(bars, ok):
        ax.annotate(f"{r['latency_ms']:.2f} ms\n{r['gops']:.0f} GOPS", (b_.get_x() + b_.get_width() / 2,
                    b_.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("latency at batch 1 (ms)"), ax.set_title(f"predicted latency per board ({title})")
    ax.margins(y=0.2)
    fig.tight_layout()
    paths.append(out / "latency.png")
    save(fig, paths[-1])
    plt.close(fig)
    return paths
