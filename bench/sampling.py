"""Sampling cost: loop overhead and the price of reconstruction guidance.

Prints, for the current Keras backend (or every backend with
`--all-backends`, one process each):

- seconds per sampling step of the compiled loop against one bare compiled
  forward call of the same network (the loop overhead; target <= 10%);
- seconds per reconstruction-guided step against a plain step (target
  <= 3.5x).

Usage:
    KERAS_BACKEND=jax python bench/sampling.py
    python bench/sampling.py --all-backends
"""

import argparse
import os
import subprocess
import sys
import time


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def run(args):
    import keras
    import numpy as np
    from keras import ops

    from kvdm.models import VideoUNet
    from kvdm.samplers import AncestralSampler
    from kvdm.utils import backend_utils

    shape = (args.batch, args.frames, args.size, args.size, 3)
    unet = VideoUNet.from_preset(args.preset)
    z = keras.random.normal(shape, seed=0)
    logsnr = ops.zeros((args.batch,))
    unet(z, logsnr)
    variables = list(unet.variables)

    def forward(values, z, logsnr):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return unet(z, logsnr)

    forward = backend_utils.jit(forward)
    values = [ops.convert_to_tensor(v.value) for v in variables]

    def bare():
        ops.convert_to_numpy(forward(values, z, logsnr))

    bare()
    forward_s = _median_time(bare, args.repeats)

    steps = args.steps
    context = np.zeros((1, args.frames // 2) + shape[2:], "float32")

    def sampler_step_time(conditioning):
        sampler = AncestralSampler(
            num_steps=steps + 1, conditioning=conditioning, steps_per_chunk=steps,
            progress=False,
        )
        kwargs = {"context": context} if conditioning == "reconstruction_guidance" else {}

        def call():
            ops.convert_to_numpy(sampler(unet, shape, prediction_type="eps", seed=0, **kwargs))

        call()
        # steps loop steps + 1 final denoiser call.
        return _median_time(call, max(1, args.repeats // 3)) / (steps + 1)

    plain_s = sampler_step_time("replacement")
    guided_s = sampler_step_time("reconstruction_guidance")
    backend = keras.config.backend()
    print(
        f"{backend:>10} | forward {forward_s * 1e3:8.2f} ms | step {plain_s * 1e3:8.2f} ms"
        f" | overhead {100 * (plain_s / forward_s - 1):+6.1f}% (target <= 10%)"
        f" | guided step {guided_s * 1e3:8.2f} ms | guided/plain {guided_s / plain_s:4.2f}x"
        f" (target <= 3.5x)",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-backends", action="store_true")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    if args.all_backends:
        argv = [a for a in sys.argv[1:] if a != "--all-backends"]
        for backend in ("tensorflow", "jax", "torch"):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            result = subprocess.run(
                [sys.executable, __file__] + argv, env=env, capture_output=True, text=True
            )
            lines = [l for l in result.stdout.splitlines() if "|" in l]
            print(lines[-1] if lines else f"{backend:>10} | failed:\n{result.stderr[-3000:]}")
        return
    run(args)


if __name__ == "__main__":
    main()
