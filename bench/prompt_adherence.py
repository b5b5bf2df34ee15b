"""Prompt adherence of a text-conditioned MovingDigits model, per guidance weight.

    python bench/prompt_adherence.py [SOURCE] [--videos-per-prompt 2]
        [--weights 0 1 2 5] [--sampler NAME] [--num-steps N] [--gamma G]
        [--set sample.FIELD=VALUE ...] [--seed S] [--json FILE]

SOURCE is a run folder, a `.keras` file or a preset name (default: the
`moving_digits_text` preset). Every digit 0-9 with every one of the eight
caption directions ("the digit 7 moves up and to the left") prompts
`--videos-per-prompt` videos at each classifier-free guidance weight, from
the same noise, with the source recipe's sampler and step count unless
`--sampler`, `--num-steps` or `--set` (any other sample setting of the
recipe, such as `sample.num_corrector_steps=1`) say otherwise. Measured,
beside real test videos with the same captions (the ceiling) and the same
real videos scored against shuffled prompts (the floor):

- digit: share of videos whose most common frame label (the MovingDigits
  digit classifier of `kvdm.metrics.DigitEvaluator`) is the prompted digit;
- direction: share whose brightness centroid's first move is the prompted
  direction (`kvdm.metrics.first_step_direction`);
- both: share with the digit and the direction right;
- diversity: mean RMS pixel distance (0-1 scale) between two videos of one
  prompt, and the spread (px) of their first-frame centroids.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def prompt_table():
    """`(prompts, digits, directions)` for every digit and direction."""
    from kvdm.data.moving_digits import DIRECTION_WORDS

    prompts, digits, directions = [], [], []
    for digit in range(10):
        for index, words in enumerate(DIRECTION_WORDS):
            prompts.append(f"the digit {digit} moves {words}")
            digits.append(digit)
            directions.append(index)
    return prompts, np.array(digits), np.array(directions)


def real_videos_for(digits, directions, per_prompt, num_frames, seed=0):
    """Real test videos whose captions are the prompts, `per_prompt` each."""
    from kvdm.data import MovingDigits

    source = MovingDigits("test", num_frames=num_frames, image_size=32, num_videos=8000, seed=seed)
    chosen = []
    for digit, direction in zip(digits, directions):
        match = np.flatnonzero((source.labels[:, 0] == digit) & (source.directions[:, 0] == direction))
        if len(match) < per_prompt:
            raise RuntimeError(f"too few test videos of digit {digit}, direction {direction}")
        chosen.extend(match[:per_prompt])
    videos, _ = source.render(np.array(chosen))
    return videos.astype(np.float32) / 127.5 - 1.0


def adherence(evaluator, videos, digits, directions, per_prompt):
    """The figures of the module docstring for `videos` (prompt-major rows)."""
    from kvdm.metrics import first_step_direction
    from kvdm.metrics.digit_evaluator import centroids
    from kvdm.metrics.digit_evaluator import label_counts

    want_digit = np.repeat(digits, per_prompt)
    want_direction = np.repeat(directions, per_prompt)
    probs, _ = evaluator.classify(videos)
    labels = probs.argmax(axis=-1)
    digit_ok = label_counts(labels).argmax(axis=-1) == want_digit
    direction_ok = first_step_direction(videos) == want_direction
    row = {
        "videos": int(len(videos)),
        "digit": float(digit_ok.mean()),
        "direction": float(direction_ok.mean()),
        "both": float((digit_ok & direction_ok).mean()),
        "frames with the digit": float((labels == want_digit[:, None]).mean()),
    }
    if per_prompt > 1:
        # (prompts, per_prompt, pixels) on a 0-1 scale; every pair i < j.
        flat = videos.reshape(-1, per_prompt, int(np.prod(videos.shape[1:]))) / 2.0
        rms = np.sqrt(np.mean((flat[:, :, None] - flat[:, None, :]) ** 2, axis=-1))
        pairs = np.triu_indices(per_prompt, k=1)
        starts = centroids(videos)[:, 0].reshape(-1, per_prompt, 2)
        row["diversity (RMS)"] = float(rms[:, pairs[0], pairs[1]].mean())
        row["start spread (px)"] = float(np.linalg.norm(starts.std(axis=1), axis=-1).mean())
    return row


def print_table(rows):
    columns = list(dict.fromkeys(key for row in rows for key in row))
    widths = [max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(_cell(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="moving_digits_text")
    parser.add_argument("--videos-per-prompt", type=int, default=2)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 2.0, 5.0])
    parser.add_argument("--num-steps", type=int, default=None, help="sampling steps (default: the recipe's)")
    parser.add_argument("--sampler", default=None, help="sampler name (default: the recipe's)")
    parser.add_argument("--gamma", type=float, default=None,
                        help="variance interpolation of the ancestral and predictor-corrector samplers "
                             "(default: the recipe's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="sample.FIELD=VALUE",
                        help="other sample settings of the recipe, e.g. sample.num_corrector_steps=1 (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if args.videos_per_prompt < 1:
        parser.error(f"--videos-per-prompt must be at least 1, got {args.videos_per_prompt}")

    import keras

    from kvdm import samplers
    from kvdm.metrics import DigitEvaluator
    from kvdm.training import load_for_sampling
    from kvdm.training.sampling import prompt_condition
    from kvdm.training.sampling import sampler_options

    loaded = load_for_sampling(args.source)
    changes = {"sampler": args.sampler, "num_steps": args.num_steps, "gamma": args.gamma}
    for override in args.overrides:
        if not override.startswith("sample."):
            parser.error(f"--set takes sample settings (sample.FIELD=VALUE), got {override!r}")
    settings = loaded.recipe.with_overrides(
        [f"sample.{key}={value}" for key, value in changes.items() if value is not None] + args.overrides).sample
    sampler, num_steps = settings.sampler, settings.num_steps
    # What only this sampler takes (the ancestral sampler's gamma, ...).
    extra = sampler_options(settings)
    frames = loaded.video_shape[0]
    per_prompt = args.videos_per_prompt
    prompts, digits, directions = prompt_table()
    evaluator = DigitEvaluator()

    real = real_videos_for(digits, directions, per_prompt, frames)
    rows = [dict(setting="real test videos (ceiling)", **adherence(evaluator, real, digits, directions, per_prompt))]
    order = np.random.default_rng(args.seed).permutation(len(prompts))
    floor = adherence(evaluator, real, digits[order], directions[order], per_prompt)
    for key in ("diversity (RMS)", "start spread (px)"):
        floor.pop(key, None)
    rows.append(dict(setting="the same, prompts shuffled (floor)", **floor))

    condition = prompt_condition(loaded.model, prompts, loaded.recipe, videos_per_prompt=per_prompt)
    shape = (len(prompts) * per_prompt,) + tuple(loaded.video_shape)
    for weight in args.weights:
        start = time.perf_counter()
        videos = samplers.sample(loaded.model, shape, sampler=sampler, num_steps=num_steps,
                                 condition=condition, guidance_weight=weight, seed=args.seed, progress=True,
                                 **extra)
        videos = np.clip(keras.ops.convert_to_numpy(videos), -1.0, 1.0).astype(np.float32)
        row = adherence(evaluator, videos, digits, directions, per_prompt)
        rows.append(dict(setting=f"guidance {weight:g}", **row, **{"sampling s": round(time.perf_counter() - start, 1)}))
    print(f"{args.source}: {len(prompts)} prompts x {per_prompt} videos, {sampler} {num_steps} steps"
          + "".join(f", {key} {value:g}" for key, value in extra.items()))
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
