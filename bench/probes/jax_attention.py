"""Where JAX's CPU time goes in the 32x32 spatial attention of shape S.

    python bench/probes/jax_attention.py
    MALLOC_MMAP_MAX_=0 python bench/probes/jax_attention.py
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution \\
        python bench/probes/jax_attention.py

Times, on JAX alone (milliseconds, fastest of `--repeats` calls after a
compiling call), each piece of the attention that `bench/backend_ops.py`
times whole: the product writing the logits (as the einsum the layers use
and as a batched 3-D matmul), the softmax over 1024 keys, `exp` alone, the
product of weights and values, and the whole attention forward and forward +
backward. Each figure is read against the time to stream the piece's
float32 tensors through memory once, so a piece far above it is held back
by its code, not by the machine (the pass counts are the fewest full reads
or writes of a logits-sized tensor each piece needs: 4 for the forward
pass, 10 with the backward pass). Setting `MALLOC_MMAP_MAX_=0` before the
process starts keeps freed large buffers in the heap, which shows what part
of a piece's time is the kernel's first touch of freshly mapped pages.
"""

import argparse
import time

import numpy as np


def _fastest(function, arguments, repeats):
    import jax

    function = jax.jit(function)
    jax.block_until_ready(function(*arguments))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*arguments))
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="batch x frames (default: 32, shape S)")
    parser.add_argument("--tokens", type=int, default=1024, help="positions (default: 1024, 32x32)")
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    shape = (args.images, args.tokens, 1, args.head_dim)
    query, key, value = (jnp.asarray(rng.standard_normal(shape), jnp.float32) for _ in range(3))
    logits = jnp.asarray(rng.standard_normal((args.images, 1, args.tokens, args.tokens)), jnp.float32)
    scale = 1.0 / np.sqrt(args.head_dim)

    def attention(query, key, value):
        weights = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", query * scale, key), axis=-1)
        return jnp.einsum("bhqk,bkhd->bqhd", weights, value)

    def loss(query, key, value):
        return attention(query, key, value).sum()

    pieces = [
        ("logits, einsum bqhd,bkhd->bhqk", lambda q, k: jnp.einsum("bqhd,bkhd->bhqk", q, k), (query, key), 1),
        ("logits, 3-D matmul", lambda q, k: q @ jnp.swapaxes(k, 1, 2), (query[:, :, 0], key[:, :, 0]), 1),
        ("softmax over keys", lambda x: jax.nn.softmax(x, axis=-1), (logits,), 2),
        ("exp alone", jnp.exp, (logits,), 2),
        ("weights x values", lambda w, v: jnp.einsum("bhqk,bkhd->bqhd", w, v), (logits, value), 1),
        ("attention forward", attention, (query, key, value), 4),
        ("attention forward + backward", jax.grad(loss, argnums=(0, 1, 2)), (query, key, value), 10),
    ]
    # Streaming one (images, tokens, tokens) float32 tensor through memory:
    # measured as a copy, so the reference is this machine's.
    copy_ms = _fastest(lambda x: x + 1.0, (logits,), args.repeats) / 2.0
    print(f"JAX {jax.__version__}, {jax.devices()[0].platform}: {args.images} images x {args.tokens} positions, "
          f"one head of {args.head_dim}; one pass over the {args.images}x{args.tokens}x{args.tokens} float32 logits "
          f"(half a read + write) takes {copy_ms:.1f} ms")
    print(f"{'piece':34s} {'ms':>8s} {'logits passes':>14s} {'x that time':>12s}")
    for name, function, arguments, passes in pieces:
        milliseconds = _fastest(function, arguments, args.repeats)
        print(f"{name:34s} {milliseconds:8.1f} {passes:14d} {milliseconds / (passes * copy_ms):12.1f}")


if __name__ == "__main__":
    main()
