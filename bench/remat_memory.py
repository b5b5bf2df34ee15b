"""Peak memory of a train step with and without rematerialization.

For each backend, two fresh processes train the same `VideoUNet` +
`VideoDiffusion` (the shapes of bench/train_step.py) from the same seed, one
with `VideoUNet(remat=True)`: the table shows seconds per step, the
process's peak resident memory, and how far above the memory of the built
model (weights, optimizer slots, framework) the train steps went. Both runs
must report the same losses: rematerialization changes what is kept for the
backward pass, not what is computed.

    python bench/remat_memory.py                       # shape S, TensorFlow
    python bench/remat_memory.py --shape M --backends tensorflow jax torch

`python bench/train_step.py --remat both` puts the same comparison next to
the speed, FLOP/s and bfloat16 figures.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _child  # noqa: E402
from _child import SHAPES  # noqa: E402


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="S", choices=sorted(SHAPES),
                        help="shape of bench/train_step.py (default: S)")
    parser.add_argument("--backends", nargs="+", default=["tensorflow"],
                        choices=["tensorflow", "jax", "torch"],
                        help="backends to measure (default: tensorflow)")
    parser.add_argument("--jit", default="auto", choices=["auto", "0", "1"],
                        help="jit_compile of the train step (default: auto)")
    parser.add_argument("--steps", type=int, default=3,
                        help="train steps, the first one compiling "
                             "(default: 3)")
    parser.add_argument("--timeout", type=int, default=1800,
                        help="seconds before a measuring process is killed "
                             "(default: 1800)")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error("--steps must be at least 1. "
                     f"Received: steps={args.steps}")

    spec = SHAPES[args.shape]
    jit = {"auto": "auto", "0": False, "1": True}[args.jit]
    print(f"shape {args.shape}: {spec['frames']}x{spec['size']}x"
          f"{spec['size']} video, batch {spec['batch']}, base channels "
          f"{spec['base_channels']}, multipliers "
          f"{tuple(spec['channel_multipliers'])}, jit_compile={args.jit}, "
          f"{args.steps} steps, one fresh process per row")
    print(f"{'backend':10} {'remat':5} {'s/step':>8} {'peak MiB':>9} "
          f"{'built MiB':>9} {'step MiB':>9}  losses")
    for backend in args.backends:
        rows = {}
        for remat in (0, 1):
            # The first step compiles; the median of the others is the cost.
            job = dict(_child.model_job(spec, remat=bool(remat), dropout=0.1),
                       jit=jit, warmup=1, steps=args.steps - 1)
            result = _child.run("train", job, backend, args.timeout)
            if "error" in result:
                print(f"{backend:10} {remat:5} failed: {result['error']}")
                continue
            if result["step_s"] is None:  # a single step: its own time
                result["step_s"] = result["warmup_s"]
            rows[remat] = result
            above = result["peak_mib"] - result["built_mib"]
            losses = " ".join(f"{loss:.6f}" for loss in result["losses"])
            print(f"{backend:10} {remat:5} {result['step_s']:8.2f} "
                  f"{result['peak_mib']:9.0f} {result['built_mib']:9.0f} "
                  f"{above:9.0f}  {losses}", flush=True)
        if len(rows) == 2:
            plain, remat = rows[0], rows[1]
            peak = remat["peak_mib"] / plain["peak_mib"]
            time_ratio = remat["step_s"] / plain["step_s"]
            print(f"{backend}: peak x{peak:.2f}, time x{time_ratio:.2f} "
                  "with remat")


if __name__ == "__main__":
    main()
