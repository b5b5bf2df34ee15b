"""Frame coupling of the recipe's network trained on identical or moving frames.

    python bench/probes/static.py static 300   # every frame the same image
    python bench/probes/static.py moving 300   # the MovingDigits videos
    python bench/probes/static.py static 300 model.temporal_attention_resolutions=[32,16,8]

Trains the README recipe's network (TensorFlow, batch 8, one pass over
`steps * 8` training videos), then prints `kvdm.metrics.frame_coupling` at
log-SNR -6, -4, -2, 0 and 2 on 16 test videos treated the same way. On
identical frames the optimal denoiser pools all frames and scores 1 at every
log-SNR; a network that denoises frames independently scores 0. Extra
`SECTION.KEY=VALUE` arguments override the recipe as in `kvdm train --set`.
`--average-init` starts every temporal attention block as an average over
the frames (zero query kernel, identity value and output projections), so
the network has a pooling path from the first step.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

LOGSNRS = (-6.0, -4.0, -2.0, 0.0, 2.0)


def _videos(split, count, seed, static):
    from kvdm.data import MovingDigits

    source = MovingDigits(split, num_frames=8, image_size=32, num_videos=count, seed=seed)
    videos, _ = source.render(np.arange(count))
    videos = videos.astype(np.float32) / 127.5 - 1.0
    if static:
        videos = np.repeat(videos[:, :1], videos.shape[1], axis=1)
    return videos


def _average_init(model, videos):
    """Sets every temporal attention block to add the mean over frames."""
    import keras

    from kvdm.layers import TemporalAttention

    model.denoise(videos, np.zeros((len(videos),), np.float32))  # builds the weights
    blocks = [layer for layer in model._flatten_layers() if isinstance(layer, TemporalAttention)]
    for block in blocks:
        channels = block.output_projection.kernel.shape[0]
        kernel = np.array(keras.ops.convert_to_numpy(block.qkv.kernel))
        kernel[:, :channels] = 0.0  # query: uniform attention (up to the position bias)
        kernel[:, 2 * channels:] = np.eye(channels)  # value: the features themselves
        block.qkv.kernel.assign(kernel)
        block.output_projection.kernel.assign(np.eye(channels, dtype=np.float32))
    return len(blocks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["static", "moving"])
    parser.add_argument("steps", type=int, help="train steps of batch 8")
    parser.add_argument("overrides", nargs="*", help="SECTION.KEY=VALUE recipe overrides")
    parser.add_argument("--recipe", default="recipes/moving_digits.yaml")
    parser.add_argument("--average-init", action="store_true",
                        help="start temporal attention as an average over frames")
    args = parser.parse_args()

    from kvdm.config import load_recipe
    from kvdm.metrics import frame_coupling
    from kvdm.training.builders import build_diffusion
    from kvdm.training.builders import build_optimizer

    static = args.mode == "static"
    recipe = load_recipe(args.recipe, args.overrides)
    train = _videos("train", args.steps * 8, 0, static)
    test = _videos("test", 16, 1, static)
    model = build_diffusion(recipe, 1)
    if args.average_init:
        print(f"averaging initialisation of {_average_init(model, test[:2])} temporal attention blocks")
    model.compile(optimizer=build_optimizer(recipe), jit_compile=False)
    start = time.time()
    model.fit(train, epochs=1, batch_size=8, verbose=0)
    print(f"{args.steps} steps in {time.time() - start:.0f} s")
    model.optimizer.finalize_variable_values(model.trainable_variables)
    for logsnr in LOGSNRS:
        coupling = frame_coupling(model, test, logsnr)
        print(f"{args.mode} log-SNR {logsnr:+.0f}: coupling {coupling.mean():.3f} "
              f"(frames 1-7: {[round(float(c), 3) for c in coupling]})")


if __name__ == "__main__":
    main()
