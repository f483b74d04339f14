"""Accuracy of the bit-accurate reference against float.

``--preset digits`` (default): the trained example (examples/digits/digits.pt, hwmoe/digits.py), plans
calibrated on 64 training images, measured on the 360 held-out images: top-1 accuracy, the worst image's
logit cosine with float, and per MoE layer the share of tokens whose top-k expert set equals float's
(the table in the README and docs/benchmarks.md; tests/test_accuracy.py asserts it on a subset).
``--preset m3vit-t``: seeded random weights, calibrated on two images, measured on a third: cosine of the final
LayerNorm features (whole tensor and worst token) and top-k agreement (the figures in docs/numerics.md §10).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/accuracy.py [--preset digits]
        [--calibration mse|max|percentile|all] [--save-plans]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from hwmoe import ir
from hwmoe.digits import PLAN, calibration_images, digits_graph, digits_split
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, make_config, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.numerics.compare import compare
from hwmoe.numerics.fixed import to_float
from hwmoe.numerics.floating import cosine
from hwmoe.numerics.precision import CALIBRATIONS, DEFAULT_CALIBRATION, PRECISIONS
from hwmoe.reference import FixedRunner, float_step, run_graph


def digits(methods: list[str], limit: int | None, save_plans: bool) -> None:
    graph = digits_graph()
    _, _, x_test, y_test = digits_split()
    x_test, y_test = x_test[:limit], y_test[:limit]
    calib = calibration_images()
    routers = [n.name for n in graph.nodes if isinstance(n, ir.Router)]
    print(f"digits: {len(x_test)} held-out images, plans calibrated on {len(calib)} training images\n")
    print("| precision | calibration | top-1 | drop vs float | worst logit cosine | "
          + " | ".join(f"top-k = float, {r}" for r in routers) + " | seconds |")
    print("|---" * (6 + len(routers)) + "|")
    float_acc = None
    for precision in PRECISIONS:
        for method in methods:
            start = time.time()
            plan = calibrate(graph, precision, calib, method=method)
            if save_plans and method == DEFAULT_CALIBRATION:
                plan.save(PLAN.format(precision=precision))
            c = compare(graph, plan, x_test)
            if float_acc is None:
                float_acc = 100 * c.accuracy(y_test, fixed=False)
                print(f"| float | | {float_acc:.2f}% | | 1 | " + " | ".join("100%" for _ in routers) + " | |")
            acc = 100 * c.accuracy(y_test)
            print(f"| {precision} | {method} | {acc:.2f}% | {float_acc - acc:+.2f} pt | {min(c.cosines):.6f} | "
                  + " | ".join(f"{100 * c.agreement(r):.2f}%" for r in routers) + f" | {time.time() - start:.1f} |",
                  flush=True)


def m3vit(preset: str, method: str) -> None:
    model = build_model(make_config(preset), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(3)])
    graph = graph_from_model(model)
    routers = [n for n in graph.nodes if isinstance(n, ir.Router)]
    ref = {}
    run_graph(graph, images[2], float_step(), ref.__setitem__)
    for precision in PRECISIONS:
        plan = calibrate(graph, precision, images[:2], method=method)
        got = {}
        FixedRunner(graph, plan).run_raw(images[2], got.__setitem__)
        f, q = ref["norm"], to_float(got["norm"], plan.tensors["norm"])
        same = sum(int(np.all(np.sort(ref[r.outputs[0]], 1) == np.sort(got[r.outputs[0]], 1), 1).sum())
                   for r in routers)
        total = sum(ref[r.outputs[0]].shape[0] for r in routers)
        print(f"{precision}: cosine {cosine(f, q):.6f}, worst token {min(cosine(x, y) for x, y in zip(f, q)):.6f}, "
              f"top-k equal to float {100 * same / max(total, 1):.2f}% of tokens")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="digits", choices=["digits", "m3vit-t", "m3vit-s"])
    ap.add_argument("--calibration", default=DEFAULT_CALIBRATION, choices=[*CALIBRATIONS, "all"])
    ap.add_argument("--limit", type=int, help="only the first N held-out images (digits)")
    ap.add_argument("--save-plans", action="store_true",
                    help="write the default method's plans beside the checkpoint (tests/test_accuracy.py reads them)")
    a = ap.parse_args()
    if a.preset == "digits":
        digits(list(CALIBRATIONS) if a.calibration == "all" else [a.calibration], a.limit, a.save_plans)
    else:
        m3vit(a.preset, DEFAULT_CALIBRATION if a.calibration == "all" else a.calibration)


if __name__ == "__main__":
    main()
