"""Fresh-process measurements shared by the train-step benchmarks.

Every figure of `bench/train_step.py` and `bench/remat_memory.py` comes from
a child process started for it alone, so that no compilation cache, thread
pool or memory high-water mark of one measurement leaks into the next. The
parent calls `run(kind, job, backend, timeout)`; the child runs

    python bench/_child.py KIND JOB_JSON

with `KERAS_BACKEND=backend` and prints one line `RESULT {json}`.

Kinds of job:

- `train`: builds `VideoUNet` + `VideoDiffusion` from a model job (see
  `model_job`), compiles it with Adam and EMA, runs `warmup` train steps
  (compilation included) and times `steps` more. Returns the median step
  time, the warm-up time, the losses, the process's peak resident memory
  and its peak once the model and optimizer were built.
- `flops`: the FLOPs of one forward + backward pass of the same network
  and loss, from XLA's cost analysis of the JAX program (run it on JAX).
  Counted without rematerialization and in float32: the useful work of a
  step, whatever the setting timed.
- `ceiling`: FLOP/s of a square TensorFlow matrix product in float32 and
  bfloat16 (run it on TensorFlow): the practical ceiling of this machine,
  against which achieved FLOP/s are read.
- `ops`: milliseconds of single operations of the network on the child's
  backend, forward and forward + backward (see `bench/backend_ops.py`).
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

SHAPES = {
    # frames, height = width, batch, base channels, multipliers, head dim
    "S": dict(frames=8, size=32, batch=4, base_channels=32,
              channel_multipliers=[1, 2, 4], head_dim=32),
    "M": dict(frames=16, size=64, batch=2, base_channels=64,
              channel_multipliers=[1, 2, 4, 8], head_dim=64),
}
# Spatial sizes with attention blocks: absolute feature-map heights, as in
# the paper's 64x64 models, so larger frames get attention only at the
# coarser levels.
ATTENTION_RESOLUTIONS = [32, 16, 8]
PRECISIONS = ["float32", "mixed_bfloat16"]


def model_job(spec, remat=False, dropout=0.0, precision="float32"):
    """The job describing one network and batch.

    Args:
        spec: dict. A shape, as the values of `SHAPES` (frames, size, batch,
            base_channels, channel_multipliers, head_dim).
        remat: bool. `VideoUNet(remat=...)`. Defaults to `False`.
        dropout: float. Dropout rate of the residual blocks. Defaults to
            `0.0`.
        precision: str. Global dtype policy, one of `PRECISIONS`. Defaults
            to `"float32"`.

    Returns:
        A dict that `run` can send to a child.

    Example:

    >>> model_job(SHAPES["S"], remat=True)["remat"]
    True
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {PRECISIONS}. "
            f"Received: precision={precision!r}"
        )
    return dict(spec, remat=bool(remat), dropout=float(dropout),
                precision=precision)


def describe(spec):
    """One line naming a shape's video, batch and network."""
    return (f"{spec['frames']}x{spec['size']}x{spec['size']} video, batch "
            f"{spec['batch']}, base channels {spec['base_channels']}, "
            f"multipliers {tuple(spec['channel_multipliers'])}, 2 blocks "
            "per level, attention at sizes "
            f"{attention_sizes(spec) or 'none'} and the middle")


def attention_sizes(spec):
    """Feature-map sizes of `spec`'s levels that have attention blocks."""
    levels = [spec["size"] // 2 ** i
              for i in range(len(spec["channel_multipliers"]))]
    return [size for size in levels if size in ATTENTION_RESOLUTIONS]


ENVIRONMENTS = ("plain", "command")


def child_environment(backend, environment="plain", base=None):
    """The environment variables of a child that runs on `backend`.

    Args:
        backend: str. `KERAS_BACKEND` of the child.
        environment: str. `"plain"`: this process's variables as they are,
            what a Python process started by hand gets. `"command"`: also
            what the `kvdm` command sets for itself on this machine (huge
            pages for `malloc` where they help, `kvdm.cli.huge_pages`; on
            JAX, XLA's CPU flags, `kvdm.cli.xla_flags`). Defaults to
            `"plain"`.
        base: mapping or None. The variables to start from. Defaults to
            `os.environ`.

    Returns:
        A new dict.
    """
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}. "
                         f"Received: environment={environment!r}")
    env = dict(os.environ if base is None else base, KERAS_BACKEND=backend,
               TF_CPP_MIN_LOG_LEVEL="3")
    if environment == "command":
        from kvdm.cli import huge_pages
        from kvdm.cli import xla_flags

        restarted = huge_pages.restart_environment(
            env, sys.platform, huge_pages.transparent_huge_pages_mode(),
            huge_pages.glibc_version())
        env = restarted if restarted is not None else env
        flags = xla_flags.flags_for(env, backend, xla_flags.jaxlib_version())
        if flags is not None:
            env["XLA_FLAGS"] = flags
    return env


def run(kind, job, backend, timeout, environment="plain"):
    """Runs one job in a fresh process and returns its result.

    Args:
        kind: str. `"train"`, `"flops"` or `"ceiling"`.
        job: dict. The job's parameters (JSON-serializable).
        backend: str. `KERAS_BACKEND` of the child.
        timeout: float. Seconds after which the child is killed.
        environment: str. See `child_environment`. Defaults to `"plain"`.

    Returns:
        The child's result dict, or `{"error": message}` when it failed or
        timed out.
    """
    env = child_environment(backend, environment)
    command = [sys.executable, os.path.abspath(__file__), kind,
               json.dumps(job)]
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


# -- what the child runs ------------------------------------------------------


def _peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _allocator_peak_reset():
    """Starts the allocator's own count of the bytes in use (TensorFlow).

    Returns a callable giving the peak in MiB since this call; where the
    backend keeps no such count, the callable gives None. The resident
    peak also holds what the allocator keeps in its pool and has freed;
    this is the most the tensors themselves held at once.
    """
    import keras

    if keras.config.backend() != "tensorflow":
        return lambda: None
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("CPU:0")
    return lambda: (
        tf.config.experimental.get_memory_info("CPU:0")["peak"] / 2**20
    )


def _median(values):
    """The median (the mean of the middle two for an even count), or None."""
    return statistics.median(values) if values else None


def _build(job):
    import keras

    from kvdm.diffusion import VideoDiffusion
    from kvdm.models import VideoUNet

    keras.config.set_dtype_policy(job.get("precision", "float32"))
    keras.utils.set_random_seed(0)
    unet = VideoUNet(
        base_channels=job["base_channels"],
        channel_multipliers=job["channel_multipliers"],
        num_res_blocks=2,
        attention_resolutions=ATTENTION_RESOLUTIONS,
        head_dim=job["head_dim"],
        groups=8,
        dropout=job.get("dropout", 0.0),
        remat=bool(job.get("remat", False)),
    )
    # The diffusion wrapper stays float32 whatever the policy (its default).
    diffusion = VideoDiffusion(unet, prediction_type="eps", seed=0)
    size = job["size"]
    video = keras.random.uniform(
        (job["batch"], job["frames"], size, size, 3),
        minval=-1.0, maxval=1.0, seed=1,
    )
    return diffusion, video


def compile_for_training(diffusion, jit):
    """Compiles `diffusion` as every timed train step runs: Adam with EMA."""
    import keras

    diffusion.compile(
        optimizer=keras.optimizers.Adam(1e-4, use_ema=True,
                                        ema_momentum=0.999),
        jit_compile=jit,
    )


def train(job):
    diffusion, video = _build(job)
    compile_for_training(diffusion, job["jit"])
    diffusion(video, training=False)
    diffusion.optimizer.build(diffusion.trainable_variables)
    built_mib = _peak_mib()
    live = _allocator_peak_reset()
    losses, times = [], []
    start = time.perf_counter()
    for _ in range(job["warmup"]):
        losses.append(float(diffusion.train_on_batch(video)))
    warmup_s = time.perf_counter() - start
    for _ in range(job["steps"]):
        start = time.perf_counter()
        losses.append(float(diffusion.train_on_batch(video)))
        times.append(time.perf_counter() - start)
    return {
        "step_s": _median(times),
        "warmup_s": warmup_s,
        "losses": losses,
        "built_mib": built_mib,
        "peak_mib": _peak_mib(),
        "live_mib": live(),
        "params": int(diffusion.count_params()),
    }


def flops(job):
    import jax

    diffusion, video = _build(dict(job, remat=False, precision="float32"))
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
    return {"flops": float(cost["flops"])}


def ceiling(job):
    import tensorflow as tf

    n = job["size"]
    result = {"size": n, "threads": os.cpu_count()}
    for dtype in ("float32", "bfloat16"):
        a = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 1)), dtype)
        b = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 2)), dtype)
        times = []
        for i in range(job["warmup"] + job["repeats"]):
            start = time.perf_counter()
            # Reading one element waits for the product.
            float(tf.matmul(a, b)[0, 0])
            if i >= job["warmup"]:
                times.append(time.perf_counter() - start)
        # Load on the machine only slows a product down: the fastest repeat
        # is the closest to what the hardware can do.
        result[dtype] = 2.0 * n ** 3 / min(times)
        result[dtype + "_times"] = times
    return result


def _gradient_fn(fn):
    """`grads(*tensors)`: the gradient of `sum(fn(*tensors) * 1)` for each.

    Compiled as the backend compiles a train step: `jax.jit`, `tf.function`,
    and eager PyTorch.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(jax.grad(
            lambda *ts: fn(*ts).sum(), argnums=tuple(range(2))))
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def grads(*tensors):
            with tf.GradientTape() as tape:
                tape.watch(tensors)
                total = tf.reduce_sum(fn(*tensors))
            return tape.gradient(total, tensors)

        return grads
    import torch

    def grads(*tensors):
        leaves = [t.detach().requires_grad_(True) for t in tensors]
        return torch.autograd.grad(fn(*leaves).sum(), leaves)

    return grads


def ops(job):
    """Forward and forward + backward milliseconds of single operations.

    `attention`: `kvdm.layers.attention_ops.dot_product_attention` over
    `tokens` positions of `batch` images, one head of `head_dim` channels
    (gradients with respect to queries and keys). `conv`: one 3x3
    convolution of `batch` images of `size`x`size`x`channels` to as many
    channels (gradients with respect to input and kernel). The fastest of
    `repeats` calls after one warm-up call.
    """
    import keras
    import numpy as np

    from kvdm.layers import attention_ops
    from kvdm.utils import backend_utils

    rng = np.random.default_rng(0)

    def tensor(*shape):
        return keras.ops.convert_to_tensor(
            rng.standard_normal(shape).astype("float32"))

    batch = job["batch"]
    tokens, head_dim = job["tokens"], job["head_dim"]
    size, channels = job["size"], job["channels"]
    value = tensor(batch, tokens, 1, head_dim)
    cases = {
        "attention": (
            lambda q, k: attention_ops.dot_product_attention(q, k, value),
            (tensor(batch, tokens, 1, head_dim),
             tensor(batch, tokens, 1, head_dim)),
        ),
        "conv": (
            lambda x, w: keras.ops.conv(x, w, padding="same"),
            (tensor(batch, size, size, channels),
             tensor(3, 3, channels, channels) * 0.05),
        ),
    }
    result = {}
    for name, (fn, tensors) in cases.items():
        for mode, compiled in (("forward", backend_utils.jit(fn)),
                               ("backward", _gradient_fn(fn))):
            times = []
            for i in range(1 + job["repeats"]):
                start = time.perf_counter()
                out = compiled(*tensors)
                out = out if isinstance(out, (list, tuple)) else [out]
                for tensor_out in out:
                    keras.ops.convert_to_numpy(tensor_out)
                if i:
                    times.append(time.perf_counter() - start)
            result[f"{name}_{mode}_ms"] = 1000.0 * min(times)
    return result


KINDS = {"train": train, "flops": flops, "ceiling": ceiling, "ops": ops}

if __name__ == "__main__":
    kind, job = sys.argv[1], json.loads(sys.argv[2])
    print("RESULT " + json.dumps(KINDS[kind](job)), flush=True)
