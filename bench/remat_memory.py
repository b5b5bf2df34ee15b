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
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import SHAPES  # noqa: E402


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(args):
    import keras

    from kvdm.diffusion import VideoDiffusion
    from kvdm.models import VideoUNet

    spec = SHAPES[args.shape]
    keras.utils.set_random_seed(0)
    unet = VideoUNet(
        base_channels=spec["base_channels"],
        channel_multipliers=spec["channel_multipliers"],
        num_res_blocks=2,
        attention_resolutions=[32, 16, 8],
        head_dim=spec["head_dim"],
        groups=8,
        dropout=0.1,
        remat=bool(args.remat),
    )
    diffusion = VideoDiffusion(unet, prediction_type="eps", seed=0)
    video = keras.random.uniform(
        (spec["batch"], spec["frames"], spec["size"], spec["size"], 3),
        minval=-1.0, maxval=1.0, seed=1,
    )
    jit = {"auto": "auto", "0": False, "1": True}[args.jit]
    diffusion.compile(
        optimizer=keras.optimizers.Adam(1e-4, use_ema=True), jit_compile=jit
    )
    diffusion(video, training=False)
    diffusion.optimizer.build(diffusion.trainable_variables)
    built_mib = _peak_mib()
    losses, times = [], []
    for _ in range(args.steps):
        start = time.perf_counter()
        losses.append(float(diffusion.train_on_batch(video)))
        times.append(time.perf_counter() - start)
    result = {
        "built_mib": built_mib,
        "peak_mib": _peak_mib(),
        # The first step compiles; the median of the others is the cost.
        "step_s": sorted(times[1:] or times)[len(times[1:] or times) // 2],
        "losses": losses,
    }
    print("RESULT " + json.dumps(result), flush=True)


def run_child(backend, extra, timeout):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.abspath(__file__), "--worker"] + extra
    try:
        done = subprocess.run(command, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail)[-300:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="S", choices=sorted(SHAPES))
    parser.add_argument("--backends", nargs="+", default=["tensorflow"],
                        choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--jit", default="auto", choices=["auto", "0", "1"],
                        help="jit_compile of the train step")
    parser.add_argument("--steps", type=int, default=3,
                        help="train steps, the first one compiling")
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--worker", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--remat", type=int, default=0,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    spec = SHAPES[args.shape]
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
            extra = ["--shape", args.shape, "--jit", args.jit,
                     "--steps", str(args.steps), "--remat", str(remat)]
            result = run_child(backend, extra, args.timeout)
            if "error" in result:
                print(f"{backend:10} {remat:5} failed: {result['error']}")
                continue
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
