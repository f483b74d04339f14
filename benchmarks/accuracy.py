"""Accuracy of the bit-accurate reference against float on m3vit-t: cosine similarity of the final LayerNorm
features (whole tensor and worst token) and the share of tokens whose top-k expert set equals float's.
Calibrated on two seeded images, measured on a third, as tests/test_reference.py does (which asserts the
thresholds; this prints the figures quoted in docs/numerics.md and the README).

    .venv/bin/python benchmarks/accuracy.py [--preset m3vit-t]
"""
from __future__ import annotations

import argparse

import numpy as np

from hwmoe import ir
from hwmoe.numerics.fixed import to_float
from hwmoe.numerics.floating import cosine
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, make_config, sample_input
from hwmoe.numerics.precision import PRECISIONS
from hwmoe.numerics.calibration import calibrate
from hwmoe.reference import FixedRunner, float_step, run_graph


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="m3vit-t")
    a = ap.parse_args()
    model = build_model(make_config(a.preset), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(3)])
    graph = graph_from_model(model)
    routers = [n for n in graph.nodes if isinstance(n, ir.Router)]
    ref = {}
    run_graph(graph, images[2], float_step(), ref.__setitem__)
    for precision in PRECISIONS:
        plan = calibrate(graph, precision, images[:2])
        got = {}
        FixedRunner(graph, plan).run_raw(images[2], got.__setitem__)
        f, q = ref["norm"], to_float(got["norm"], plan.tensors["norm"])
        same = sum(int(np.all(np.sort(ref[r.outputs[0]], 1) == np.sort(got[r.outputs[0]], 1), 1).sum())
                   for r in routers)
        total = sum(ref[r.outputs[0]].shape[0] for r in routers)
        print(f"{precision}: cosine {cosine(f, q):.6f}, worst token {min(cosine(x, y) for x, y in zip(f, q)):.6f}, "
              f"top-k equal to float {100 * same / max(total, 1):.2f}% of tokens")


if __name__ == "__main__":
    main()
