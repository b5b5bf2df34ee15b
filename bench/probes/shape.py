"""How fast does the recipe's network learn which digit to draw from a label?

    python bench/probes/shape.py 900 --frames 1 --centered   # centred images
    python bench/probes/shape.py 900 --frames 1               # images, digit anywhere
    python bench/probes/shape.py 900 --frames 1 --digit-size 24
    python bench/probes/shape.py 900 --frames 8 --batch 8     # the recipe's videos
    python bench/probes/shape.py 900 --frames 8 --batch 4 --images 8 --digit-size 24

Trains the README recipe's network (TensorFlow) with the digit of every
training example as a one-hot condition (condition dropout 0.1), one pass
over `steps * batch` examples of `frames` frames (`--frames 1`: images),
then samples 5 examples per digit (DDIM, 32 steps) at classifier-free
guidance weights 0 and 2 and prints the share of frames that
`kvdm.metrics.DigitEvaluator` gives the asked-for digit (chance 0.10),
beside the classifier's accuracy on real frames of the same kind (the
ceiling; its weights were trained on 16-pixel digits in 32x32 frames).

`--centered` keeps every digit in the middle of the frame and still;
`--digit-size` changes the side of a digit (and with it how far it can
move: 32 minus the side). A batch of 64 images costs about what a batch of
8 videos of 8 frames does, so `--frames 1 --batch 64` and `--frames 8
--batch 8` compare the same compute. Extra `SECTION.KEY=VALUE` arguments
override the recipe as in `kvdm train --set`.

`--images N` (videos only) appends to every training video N independent
images of the same digit (random frames of other training videos showing
it), as joint image-video training with the video's label; `--batch 4
--images 8` costs about what `--batch 8` does.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SAMPLES_PER_DIGIT = 5


def _examples(split, count, frames, digit_size, centered, seed):
    """Float videos `(count, frames, 32, 32, 1)` in [-1, 1] and their digits."""
    from kvdm.data import MovingDigits

    source = MovingDigits(
        split, num_frames=max(frames, 2), image_size=32, num_videos=count,
        digit_size=digit_size, seed=seed,
    )
    if centered:
        source.starts[:] = source.limit // 2
        source.velocities[:] = 0
    videos, _ = source.render(np.arange(count))
    videos = videos[:, :frames].astype(np.float32) / 127.5 - 1.0
    return videos, source.labels[:count, 0]


def _same_digit_images(labels, count, digit_size, seed):
    """`count` random frames of other videos with the same digit, per label."""
    from kvdm.data import MovingDigits

    pool = MovingDigits("train", num_frames=8, image_size=32, num_videos=max(len(labels) * count, 2000),
                        digit_size=digit_size, seed=seed + 100)
    rng = np.random.default_rng(seed)
    chosen = np.empty((len(labels), count), np.int64)
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        chosen[rows] = rng.choice(np.flatnonzero(pool.labels[:, 0] == digit), (len(rows), count))
    videos, _ = pool.render(chosen.reshape(-1))
    frames = videos[np.arange(len(videos)), rng.integers(0, 8, len(videos))]
    return frames.reshape((len(labels), count) + frames.shape[1:]).astype(np.float32) / 127.5 - 1.0


def build_labelled_model(recipe, num_image_frames=0):
    """The recipe's `VideoDiffusion` taking a one-hot digit (dropout 0.1)."""
    from kvdm.diffusion import VideoDiffusion
    from kvdm.diffusion.schedules import get_schedule
    from kvdm.models import VideoUNet

    settings = recipe.model.unet_kwargs()
    settings.update(out_channels=1, condition_dim=10)
    diffusion = recipe.diffusion
    return VideoDiffusion(
        VideoUNet(**settings),
        schedule=get_schedule(diffusion.schedule, logsnr_min=diffusion.logsnr_min,
                              logsnr_max=diffusion.logsnr_max, shift=diffusion.logsnr_shift),
        prediction_type=diffusion.prediction_type,
        loss_weighting=diffusion.loss_weighting,
        condition_dropout=0.1,
        num_image_frames=num_image_frames,
        seed=recipe.train.seed,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", type=int, help="train steps")
    parser.add_argument("overrides", nargs="*", help="SECTION.KEY=VALUE recipe overrides")
    parser.add_argument("--frames", type=int, default=1, help="frames per example (1: images)")
    parser.add_argument("--batch", type=int, default=64, help="examples per step")
    parser.add_argument("--centered", action="store_true", help="digits in the middle, still")
    parser.add_argument("--digit-size", type=int, default=None, help="side of a digit in pixels")
    parser.add_argument("--images", type=int, default=0, help="same-digit images per video")
    parser.add_argument("--recipe", default="recipes/moving_digits.yaml")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 2.0],
                        help="classifier-free guidance weights to sample at")
    args = parser.parse_args()

    import keras

    from kvdm.config import load_recipe
    from kvdm.metrics import DigitEvaluator
    from kvdm.samplers import sample
    from kvdm.training.builders import build_optimizer

    recipe = load_recipe(args.recipe, args.overrides)
    count = args.steps * args.batch
    videos, labels = _examples("train", count, args.frames, args.digit_size, args.centered, 0)
    inputs = {"video": videos, "condition": np.eye(10, dtype=np.float32)[labels]}
    if args.images:
        inputs["images"] = _same_digit_images(labels, args.images, args.digit_size, 0)
    model = build_labelled_model(recipe, num_image_frames=args.images)
    model.compile(optimizer=build_optimizer(recipe), jit_compile=False)
    start = time.time()
    model.fit(inputs, epochs=1, batch_size=args.batch, verbose=0)
    minutes = (time.time() - start) / 60
    model.optimizer.finalize_variable_values(model.trainable_variables)
    model.num_image_frames = 0

    evaluator = DigitEvaluator()
    real, real_labels = _examples("test", 200, args.frames, args.digit_size, args.centered, 1)
    print(f"{args.steps} steps of {args.batch} x {args.frames} frame(s) in {minutes:.1f} min; "
          f"classifier on real frames {evaluator.label_kept(real, real_labels):.3f}")
    wanted = np.repeat(np.arange(10), SAMPLES_PER_DIGIT)
    for weight in args.weights:
        samples = sample(model, (len(wanted), args.frames, 32, 32, 1), sampler="ddim",
                         num_steps=32, condition=np.eye(10, dtype=np.float32)[wanted],
                         guidance_weight=weight, seed=0, progress=False)
        samples = keras.ops.convert_to_numpy(samples)
        probs, _ = evaluator.classify(samples)
        labels_read = probs.argmax(axis=-1)
        one_label = np.mean(np.all(labels_read == labels_read[:, :1], axis=1))
        print(f"guidance {weight:g}: asked-for digit {evaluator.label_kept(samples, wanted):.3f} "
              f"(chance 0.100), confidence {probs.max(axis=-1).mean():.3f}, "
              f"videos with one label {one_label:.3f}")


if __name__ == "__main__":
    main()
