"""Train-step speed of VideoUNet + VideoDiffusion on every backend, side by side.

For each shape and each (backend, compilation) setting, one fresh process
builds the model, runs warm-up steps (compilation included) and times
`--steps` train steps. The table shows seconds per step, videos per second,
FLOPs per step, achieved FLOP/s as a share of this CPU's fp32 peak, and the
process's peak resident memory.

FLOPs per step are counted once per shape by XLA's cost analysis of the JAX
forward + backward pass (the same network and loss on every backend), so the
FLOP/s column compares like with like.

    python bench/train_step.py                 # shapes S and M, all settings
    python bench/train_step.py --shapes S --steps 5
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SHAPES = {
    # frames, height, width, batch, base channels, multipliers, head dim
    "S": dict(frames=8, size=32, batch=4, base_channels=32,
              channel_multipliers=[1, 2, 4], head_dim=32),
    "M": dict(frames=16, size=64, batch=2, base_channels=64,
              channel_multipliers=[1, 2, 4, 8], head_dim=64),
}
SETTINGS = [
    ("tensorflow", False),
    ("tensorflow", True),
    ("jax", True),
    ("torch", False),
    ("torch", True),
]


def cpu_peak_flops():
    """fp32 peak of this machine: cores x clock x FLOPs per cycle per core."""
    cores = os.cpu_count() or 1
    mhz, flags = None, ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":")[1])
            if line.startswith("flags") and not flags:
                flags = line
    if "avx512f" in flags:
        per_cycle = 64  # two 512-bit FMA units: 2 x 16 lanes x 2 FLOPs
    elif "avx2" in flags and "fma" in flags:
        per_cycle = 32  # two 256-bit FMA units: 2 x 8 lanes x 2 FLOPs
    else:
        per_cycle = 8
    return cores * (mhz or 2000.0) * 1e6 * per_cycle, cores, mhz, per_cycle


def build(shape):
    import keras

    from kvdm.diffusion import VideoDiffusion
    from kvdm.models import VideoUNet

    spec = SHAPES[shape]
    keras.utils.set_random_seed(0)
    unet = VideoUNet(
        base_channels=spec["base_channels"],
        channel_multipliers=spec["channel_multipliers"],
        num_res_blocks=2,
        attention_resolutions=[32, 16, 8],
        head_dim=spec["head_dim"],
        groups=8,
    )
    diffusion = VideoDiffusion(unet, prediction_type="eps", seed=0)
    video = keras.random.uniform(
        (spec["batch"], spec["frames"], spec["size"], spec["size"], 3),
        minval=-1.0, maxval=1.0, seed=1,
    )
    return diffusion, video


def count_flops(shape):
    """FLOPs of one forward + backward pass from XLA's cost analysis (JAX)."""
    import jax

    diffusion, video = build(shape)
    diffusion(video, training=True)  # builds the variables
    trainable = [v.value for v in diffusion.trainable_variables]
    non_trainable = [v.value for v in diffusion.non_trainable_variables]

    def loss(trainable, non_trainable, video):
        outputs, _ = diffusion.stateless_call(
            trainable, non_trainable, video, training=True
        )
        return diffusion.compute_loss(y_pred=outputs)

    lowered = jax.jit(jax.value_and_grad(loss)).lower(
        trainable, non_trainable, video
    )
    cost = lowered.compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost["flops"])


def worker(args):
    import keras

    diffusion, video = build(args.shape)
    diffusion.compile(
        optimizer=keras.optimizers.Adam(1e-4, use_ema=True, ema_momentum=0.999),
        jit_compile=args.jit,
    )
    start = time.perf_counter()
    for _ in range(args.warmup):
        loss = diffusion.train_on_batch(video)
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = diffusion.train_on_batch(video)
        times.append(time.perf_counter() - start)
    times.sort()
    step_s = times[len(times) // 2]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "step_s": step_s,
        "warmup_s": warmup_s,
        "loss": float(loss),
        "peak_mib": peak_kib / 1024.0,
        "params": int(diffusion.count_params()),
    }
    print("RESULT " + json.dumps(result), flush=True)


def flops_worker(args):
    print("RESULT " + json.dumps({"flops": count_flops(args.shape)}), flush=True)


def run_child(backend, extra, timeout):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.abspath(__file__)] + extra
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"error": " | ".join(tail)[-300:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["S", "M"],
                        choices=sorted(SHAPES))
    parser.add_argument("--settings", nargs="+", default=None,
                        help="backend:jit pairs, e.g. torch:0 tensorflow:1")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=1200)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flops", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shape", default="S", help=argparse.SUPPRESS)
    parser.add_argument("--jit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.flops:
        return flops_worker(args)

    settings = SETTINGS
    if args.settings:
        settings = [(s.split(":")[0], bool(int(s.split(":")[1])))
                    for s in args.settings]
    peak, cores, mhz, per_cycle = cpu_peak_flops()
    print(f"CPU fp32 peak: {peak / 1e9:.1f} GFLOP/s "
          f"({cores} cores x {mhz:.0f} MHz x {per_cycle} FLOP/cycle)")
    print("Each row: median of --steps train steps after --warmup warm-up "
          "steps (compilation), one fresh process per row.\n")
    header = (f"{'shape':5} {'backend':10} {'jit':3} {'s/step':>8} "
              f"{'videos/s':>8} {'GFLOP/step':>10} {'GFLOP/s':>8} "
              f"{'% peak':>6} {'peak MiB':>8} {'warmup s':>8}")
    for shape in args.shapes:
        spec = SHAPES[shape]
        flops = run_child("jax", ["--flops", "--shape", shape], args.timeout)
        flops = flops.get("flops")
        print(f"shape {shape}: {spec['frames']}x{spec['size']}x{spec['size']} "
              f"video, batch {spec['batch']}, base channels "
              f"{spec['base_channels']}, multipliers "
              f"{tuple(spec['channel_multipliers'])}, 2 blocks per level")
        print(header)
        for backend, jit in settings:
            extra = ["--worker", "--shape", shape, "--jit", str(int(jit)),
                     "--steps", str(args.steps), "--warmup", str(args.warmup)]
            result = run_child(backend, extra, args.timeout)
            if "error" in result:
                print(f"{shape:5} {backend:10} {int(jit):3} "
                      f"failed: {result['error']}")
                continue
            step_s = result["step_s"]
            videos_s = spec["batch"] / step_s
            if flops:
                achieved = flops / step_s
                gflop = f"{flops / 1e9:10.1f}"
                gflops = f"{achieved / 1e9:8.1f}"
                share = f"{100 * achieved / peak:6.1f}"
            else:
                gflop, gflops, share = f"{'n/a':>10}", f"{'n/a':>8}", f"{'n/a':>6}"
            print(f"{shape:5} {backend:10} {int(jit):3} {step_s:8.3f} "
                  f"{videos_s:8.2f} {gflop} {gflops} {share} "
                  f"{result['peak_mib']:8.0f} {result['warmup_s']:8.1f}",
                  flush=True)
        print()


if __name__ == "__main__":
    main()
