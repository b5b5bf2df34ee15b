"""Sample quality of MovingDigits models, side by side with real data.

    python bench/moving_digits_quality.py [SOURCE ...] [--num-videos 64]
        [--conditional | --conditional-only] [--reconstruction-weights W ...]
        [--conditional-tasks predict extend upsample] [--json results.json]

Each SOURCE is a run folder, a `.keras` file or a preset name (default: the
README main job's `runs/moving_digits`). Prints, for real test videos (the ceiling), frames
shuffled across real videos (the floor) and every source, the figures of
`kvdm.metrics.DigitEvaluator`, with the source's training steps, minutes and
seconds per step, and the frame coupling of its network at log-SNR -4 and 0
(`kvdm.metrics.frame_coupling`: how much the other frames' estimates move
when frame 0 of the noisy input does). `--conditional` adds, for each source, how well the digit of
a real test video is kept by `predict` (2 known frames), `extend` (8 -> 32
frames) and `upsample` (16x16 -> 32x32): the share of generated frames that
the classifier gives the input's label. `--reconstruction-weights` repeats
them at each given reconstruction-guidance weight (default: the recipe's),
which is how a recipe's `sample.reconstruction_weight` is chosen;
`--conditional-tasks` picks a subset of the three and `--conditional-only`
skips the unconditional samples.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

_FIGURES = ("one_label_share", "majority_share", "confidence", "centroid_jump", "centroid_jerk", "frechet_distance",
            "coupling_-4", "coupling_0")
# Log-SNRs of the frame-coupling probe: where a video's digit is decided,
# and where frames are nearly clean.
_PROBE_LOGSNRS = (-4.0, 0.0)


def _real_videos(num_videos, num_frames, seed):
    from kvdm.data import MovingDigits

    source = MovingDigits("test", num_frames=num_frames, image_size=32, num_videos=num_videos, seed=seed)
    videos, _ = source.render(np.arange(num_videos))
    return videos.astype(np.float32) / 127.5 - 1.0, source.labels[:, 0]


def _training_figures(loaded):
    """(steps, minutes, seconds per step) of a loaded run or preset, if known."""
    from kvdm.training import checkpoint as checkpoint_lib

    meta = {}
    if loaded.step is not None:
        meta = checkpoint_lib.read_meta(loaded.source)
    else:
        card = os.path.join(os.path.dirname(loaded.source), "card.json")
        if os.path.isfile(card):
            with open(card) as handle:
                meta = json.load(handle)
    steps, seconds = meta.get("step"), meta.get("train_seconds")
    if steps is None or seconds is None:
        return steps, None, None
    return steps, seconds / 60.0, seconds / steps


CONDITIONAL_TASKS = ("predict", "extend", "upsample")


def _conditional(loaded, real, labels, seed, weight=None, tasks=CONDITIONAL_TASKS):
    """Label kept after the known frames by predict, extend and upsample.

    `weight` is the reconstruction-guidance weight (None: the recipe's).
    """
    import keras

    from kvdm import samplers
    from kvdm.metrics import DigitEvaluator

    evaluator = DigitEvaluator()
    config = loaded.recipe.sample
    common = dict(
        sampler=config.sampler,
        num_steps=config.num_steps,
        seed=seed,
        progress=False,
        reconstruction_weight=config.reconstruction_weight if weight is None else weight,
    )
    frames = loaded.video_shape[0]
    out = {}
    # Prediction and extension by the run's own conditioning method ("context"
    # for a network trained with clean leading frames).
    known = dict(common, conditioning=config.conditioning)
    if "predict" in tasks:
        video = samplers.predict(loaded.model, real[:, :2], frames, **known)
        out["predict_2_to_%d" % frames] = evaluator.label_kept(keras.ops.convert_to_numpy(video), labels, start=2)
    if "extend" in tasks:
        video = samplers.extend(loaded.model, real, 32, window_frames=frames, **known)
        out["extend_%d_to_32" % frames] = evaluator.label_kept(keras.ops.convert_to_numpy(video), labels,
                                                                start=frames)
    if "upsample" in tasks:
        low = real.reshape(real.shape[0], frames, 16, 2, 16, 2, 1).mean(axis=(3, 5))
        video = samplers.upsample(loaded.model, low, spatial_factor=2, **common)
        out["upsample_16_to_32"] = evaluator.label_kept(keras.ops.convert_to_numpy(video), labels)
    return out


def _print_table(rows):
    header = ["source", "videos", "steps", "train min", "s/step"] + list(_FIGURES)
    lines = [header]
    for row in rows:
        cells = [row["source"], str(row["num_videos"])]
        for key, fmt in (("steps", "{}"), ("train_minutes", "{:.1f}"), ("step_seconds", "{:.2f}")):
            cells.append("-" if row.get(key) is None else fmt.format(row[key]))
        cells += ["{:.3f}".format(row[key]) if key in row else "-" for key in _FIGURES]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*")
    parser.add_argument("--num-videos", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conditional", action="store_true")
    parser.add_argument("--conditional-videos", type=int, default=16)
    parser.add_argument("--reconstruction-weights", type=float, nargs="+", default=[None],
                        help="reconstruction-guidance weights of --conditional (default: the recipe's)")
    parser.add_argument("--conditional-only", action="store_true",
                        help="only the --conditional figures (no unconditional samples)")
    parser.add_argument("--conditional-tasks", nargs="+", default=list(CONDITIONAL_TASKS),
                        choices=CONDITIONAL_TASKS)
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    sources = args.sources or ["runs/moving_digits"]

    from kvdm.metrics import DigitEvaluator
    from kvdm.metrics import frame_coupling
    from kvdm.metrics import shuffle_frames
    from kvdm.training import generate
    from kvdm.training import load_for_sampling

    evaluator = DigitEvaluator()
    rows = []
    cache = {}

    def real_for(frames):
        if frames not in cache:
            reference, _ = _real_videos(256, frames, seed=0)
            held_out, labels = _real_videos(args.num_videos, frames, seed=1)
            cache[frames] = (reference, held_out, labels)
        return cache[frames]

    loaded_sources = []
    for source in sources:
        loaded = load_for_sampling(source)
        loaded_sources.append((source, loaded))
        frames = loaded.video_shape[0]
        reference, held_out, _ = real_for(frames)
        if args.conditional_only:
            continue
        if not any(row["source"].startswith(f"real test videos ({frames}") for row in rows):
            rows.append({"source": f"real test videos ({frames} frames)", **evaluator.evaluate(held_out, reference)})
            rows.append({"source": "shuffled frames (floor)", **evaluator.evaluate(shuffle_frames(held_out), reference)})
        start = time.perf_counter()
        videos = generate(loaded.model, loaded.recipe, loaded.video_shape, num_videos=args.num_videos,
                          seed=args.seed, progress=True)
        seconds = time.perf_counter() - start
        steps, minutes, per_step = _training_figures(loaded)
        row = {"source": source, "steps": steps, "train_minutes": minutes, "step_seconds": per_step,
               "sampling_seconds": seconds, **evaluator.evaluate(videos, reference)}
        for logsnr in _PROBE_LOGSNRS:
            # Mean response of frames 1.. to a change of frame 0 (0: frames
            # denoised independently).
            row[f"coupling_{logsnr:g}"] = float(frame_coupling(loaded.model, held_out[:16], logsnr).mean())
        rows.append(row)

    if rows:
        _print_table(rows)
    if args.conditional or args.conditional_only:
        print()
        for source, loaded in loaded_sources:
            _, held_out, labels = real_for(loaded.video_shape[0])
            count = min(args.conditional_videos, len(held_out))
            for weight in args.reconstruction_weights:
                shown = loaded.recipe.sample.reconstruction_weight if weight is None else weight
                kept = _conditional(loaded, held_out[:count], labels[:count], args.seed, weight,
                                    args.conditional_tasks)
                rows.append({"source": f"{source} (conditional)", "num_videos": count,
                             "reconstruction_weight": shown, **kept})
                print(f"{source}, reconstruction weight {shown:g}: share of generated frames with the input's "
                      f"digit, {count} real test videos", flush=True)
                for task, share in kept.items():
                    print(f"  {task}: {share:.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
