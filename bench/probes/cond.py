"""Does the recipe's network use the digit's label as a one-hot condition?

    python bench/probes/cond.py 500 [SECTION.KEY=VALUE ...]

Trains the README recipe's network with the digit of each training video as
a one-hot condition (condition dropout 0.1) for the given steps, then samples
3 videos per digit (DDIM 32 steps) at guidance weight 0 and 2 and prints the
share of frames that `kvdm.metrics.DigitEvaluator` gives the asked-for label
(chance 0.1), with the identity figures of the samples.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from shape import build_labelled_model  # noqa: E402  (bench/probes/shape.py)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", type=int, help="train steps of batch 8")
    parser.add_argument("overrides", nargs="*", help="SECTION.KEY=VALUE recipe overrides")
    parser.add_argument("--recipe", default="recipes/moving_digits.yaml")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 2.0],
                        help="classifier-free guidance weights to sample at")
    args = parser.parse_args()

    import keras

    from kvdm.config import load_recipe
    from kvdm.data import MovingDigits
    from kvdm.metrics import DigitEvaluator
    from kvdm.samplers import sample
    from kvdm.training.builders import build_optimizer

    recipe = load_recipe(args.recipe, args.overrides)
    count = args.steps * 8
    source = MovingDigits("train", num_frames=8, image_size=32, num_videos=count, seed=0)
    videos, _ = source.render(np.arange(count))
    videos = videos.astype(np.float32) / 127.5 - 1.0
    one_hot = np.eye(10, dtype=np.float32)[source.labels[:count, 0]]

    model = build_labelled_model(recipe)
    model.compile(optimizer=build_optimizer(recipe), jit_compile=False)
    start = time.time()
    model.fit({"video": videos, "condition": one_hot}, epochs=1, batch_size=8, verbose=0)
    print(f"{args.steps} steps in {time.time() - start:.0f} s")
    model.optimizer.finalize_variable_values(model.trainable_variables)

    evaluator = DigitEvaluator()
    wanted = np.repeat(np.arange(10), 3)
    for weight in args.weights:
        samples = sample(model, (len(wanted), 8, 32, 32, 1), sampler="ddim", num_steps=32,
                         condition=np.eye(10, dtype=np.float32)[wanted],
                         guidance_weight=weight, seed=0, progress=False)
        samples = keras.ops.convert_to_numpy(samples)
        figures = evaluator.evaluate(samples)
        print(f"guidance {weight:g}: asked-for digit {evaluator.label_kept(samples, wanted):.3f} "
              f"(chance 0.100), one label {figures['one_label_share']:.3f}, "
              f"majority {figures['majority_share']:.3f}, confidence {figures['confidence']:.3f}")


if __name__ == "__main__":
    main()
