"""Sampling a trained model from noise shared between frames (a probe).

    python bench/probes/corr.py runs/preset-moving_digits 0 0.8 0.95

For each correlation `rho`, samples 64 videos with the run's recipe sampler
from noise whose frames share that correlation (`kvdm.diffusion.noise.
frame_correlated_normal`, set on the loaded model as `noise_correlation`,
whatever it was trained with), and prints the `kvdm.metrics.DigitEvaluator`
figures against 256 real test videos. A model trained on independent noise
sampled this way keeps its digit more often, but its digits also move less:
the probe shows how much of a video's content its frames settle from their
own noise.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

FIGURES = ("one_label_share", "majority_share", "confidence", "centroid_jump", "frechet_distance")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="run folder, .keras file or preset name")
    parser.add_argument("correlations", type=float, nargs="+")
    parser.add_argument("--num-videos", type=int, default=64)
    args = parser.parse_args()

    from kvdm.data import MovingDigits
    from kvdm.diffusion.noise import check_noise_correlation
    from kvdm.metrics import DigitEvaluator
    from kvdm.training import generate
    from kvdm.training import load_for_sampling

    loaded = load_for_sampling(args.source)
    evaluator = DigitEvaluator()
    real = MovingDigits("test", num_frames=8, image_size=32, num_videos=256, seed=0)
    reference, _ = real.render(np.arange(256))
    reference = reference.astype(np.float32) / 127.5 - 1.0
    for rho in args.correlations:
        loaded.model.noise_correlation = check_noise_correlation(rho)
        videos = generate(loaded.model, loaded.recipe, loaded.video_shape,
                          num_videos=args.num_videos, seed=0, progress=False)
        figures = evaluator.evaluate(np.asarray(videos), reference)
        print(f"rho {rho:g}: " + ", ".join(f"{k} {float(figures[k]):.3f}" for k in FIGURES))


if __name__ == "__main__":
    main()
