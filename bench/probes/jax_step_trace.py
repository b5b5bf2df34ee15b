"""Where a JAX train step's time goes, by kind of XLA kernel.

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \\
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution \\
        KERAS_BACKEND=jax python bench/probes/jax_step_trace.py --shape M

Builds the network and batch of `bench/train_step.py`'s shape, takes
`--warmup` train steps (compilation included), then traces one more with
`jax.profiler` and sums the traced kernels by kind (the name without its
`.N` suffix: `ynn_fusion`, `transpose_copy_fusion`, ...). Kernels that hand
their work to another thread pool, as XLA's Eigen convolutions do, end
before that work does: the time of the step that no traced kernel covers
is printed as "between kernels". `--top` lists the longest single kernels.
The trace stays in `--trace-dir` for a closer look (Perfetto reads its
`.trace.json.gz`).
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import _child  # noqa: E402

# Trace events that are not XLA kernels: Python frames, the runtime's own
# bookkeeping and the wait for the step's result.
_NOT_KERNELS = ("$", "Thunk", "Pjit", "Threadpool", "Slinky", "CommonPjRt")


def kernel_events(trace_dir):
    """`(name, start_us, duration_us)` of every XLA kernel in the trace."""
    paths = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"),
                      recursive=True)
    if not paths:
        raise SystemExit(f"no .trace.json.gz under {trace_dir!r}")
    with gzip.open(max(paths, key=os.path.getmtime)) as handle:
        trace = json.load(handle)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    return [(e["name"], e["ts"], e["dur"]) for e in events
            if e.get("ph") == "X" and "dur" in e
            and not e["name"].startswith(_NOT_KERNELS)]


def uncovered_us(kernels):
    """Microseconds between the first kernel's start and the last's end
    that no kernel covers."""
    spans = sorted((start, start + duration) for _, start, duration in kernels)
    gap, reach = 0.0, spans[0][1]
    for start, end in spans[1:]:
        if start > reach:
            gap += start - reach
        reach = max(reach, end)
    return gap


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="S", choices=sorted(_child.SHAPES))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--trace-dir", default="jax-step-trace")
    args = parser.parse_args()

    import jax
    import keras

    if keras.config.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax")
    diffusion, video = _child._build(_child.model_job(_child.SHAPES[args.shape]))
    _child.compile_for_training(diffusion, jit=True)
    for _ in range(args.warmup):
        diffusion.train_on_batch(video)
    with jax.profiler.trace(args.trace_dir, create_perfetto_trace=True):
        start = time.perf_counter()
        float(diffusion.train_on_batch(video))
        step_s = time.perf_counter() - start

    kernels = kernel_events(args.trace_dir)
    by_kind = collections.Counter()
    count = collections.Counter()
    for name, _, duration in kernels:
        kind = re.sub(r"\.\d+$", "", name)
        by_kind[kind] += duration
        count[kind] += 1
    print(f"shape {args.shape}: traced step {step_s:.2f} s, "
          f"{len(kernels)} kernels, {sum(by_kind.values()) / 1e6:.2f} s in them, "
          f"{uncovered_us(kernels) / 1e6:.2f} s between kernels")
    print(f"{'s':>7} {'kernels':>7}  kind")
    for kind, total in by_kind.most_common(12):
        print(f"{total / 1e6:7.2f} {count[kind]:7d}  {kind}")
    print("\nlongest single kernels (ms):")
    for name, _, duration in sorted(kernels, key=lambda k: -k[2])[:args.top]:
        print(f"{duration / 1e3:9.1f}  {name}")


if __name__ == "__main__":
    main()
