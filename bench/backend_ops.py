"""The two heaviest operations of shape S's train step, per backend.

At shape S of bench/train_step.py the largest costs of a step are the
spatial attention of the 32x32 level (1024 positions, one head of 32
channels, 32 frames at a time) and the 3x3 convolutions of that level. This
script times both alone, forward and forward + backward, on TensorFlow, JAX
and PyTorch, each in a fresh process, so that a gap between the backends'
train steps can be traced to the kernels each backend runs:

    python bench/backend_ops.py
    python bench/backend_ops.py --backends jax \\
        --xla-flags="--xla_cpu_experimental_ynn_fusion_type="

The attention is `kvdm.layers.attention_ops.dot_product_attention` (the
function every attention block calls; PyTorch runs it through its fused
kernel), the convolution `keras.ops.conv`. Each figure is the fastest of
`--repeats` calls after a warm-up call; the last column is each time over
the fastest backend's.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _child  # noqa: E402

COLUMNS = [
    ("attention_forward_ms", "attention fwd"),
    ("attention_backward_ms", "attention fwd+bwd"),
    ("conv_forward_ms", "conv fwd"),
    ("conv_backward_ms", "conv fwd+bwd"),
]


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+",
                        default=["tensorflow", "jax", "torch"],
                        choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--batch", type=int, default=32,
                        help="images per call: batch x frames (default: 32, "
                             "shape S)")
    parser.add_argument("--tokens", type=int, default=1024,
                        help="attention positions (default: 1024, 32x32)")
    parser.add_argument("--head-dim", type=int, default=32)
    parser.add_argument("--size", type=int, default=32,
                        help="convolution input height = width")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--xla-flags", default=None,
                        help="XLA_FLAGS of the JAX process")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    if args.xla_flags is not None:
        os.environ["XLA_FLAGS"] = args.xla_flags

    job = dict(batch=args.batch, tokens=args.tokens, head_dim=args.head_dim,
               size=args.size, channels=args.channels, repeats=args.repeats)
    print(f"attention: {args.batch} x {args.tokens} positions, one head of "
          f"{args.head_dim}; conv 3x3: {args.batch} x {args.size}x"
          f"{args.size}x{args.channels} -> {args.channels}; milliseconds, "
          f"fastest of {args.repeats}, one fresh process per backend")
    results = {}
    for backend in args.backends:
        results[backend] = _child.run("ops", job, backend, args.timeout)
    header = f"{'backend':11}" + "".join(f"{title:>19}" for _, title in COLUMNS)
    print(header)
    for backend, result in results.items():
        if "error" in result:
            print(f"{backend:11} error: {result['error']}")
            continue
        cells = []
        for key, _ in COLUMNS:
            fastest = min(r[key] for r in results.values() if key in r)
            cells.append(f"{result[key]:9.1f} ({result[key] / fastest:4.2f}x)")
        print(f"{backend:11}" + "".join(f"{cell:>19}" for cell in cells))


if __name__ == "__main__":
    main()
