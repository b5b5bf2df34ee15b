"""Trains a recipe and ships the result as a kvdm preset.

    python bench/make_preset.py recipes/moving_digits.yaml --name moving_digits

Trains (or resumes) the recipe in `runs/preset-NAME` (or `--run DIR`, for
example the README main job's `runs/moving_digits`, continued to the
recipe's `train.steps`), then copies the EMA
model (`model.keras`) and the recipe into `kvdm/presets/NAME/`, measures it
with `kvdm.metrics.DigitEvaluator` against real test videos, and writes
`card.json` (steps, training minutes, seconds per step, figures) and
`samples.gif` beside it. Extra `--set SECTION.KEY=VALUE` options override the
recipe as in `kvdm train`.

A text-conditioned recipe (`model.text_encoder`, e.g. moving_digits_text.yaml)
is sampled from the captions of the real test videos, one video per caption,
with the recipe's guidance weight: the figures compare like with like, the
card lists the prompts of `samples.gif` and adds the share of frames that
show the prompted digit (`prompted_digit_share`).

    python bench/make_preset.py recipes/moving_digits_text.yaml --name moving_digits_text

`--trained RUN` packs a run that `bench/train_accelerator.py` trained
elsewhere (an accelerator machine without TensorFlow) instead of training:
its `model.keras`, `recipe.yaml` and checkpoint `meta.json` (steps, seconds),
checked against the recipe; `--trained-command` and `--machine` record how
and where it was trained on the card.

    python bench/make_preset.py recipes/moving_digits_preset.yaml --name moving_digits \
        --trained runs/preset-moving_digits --machine "one NVIDIA H200"
"""

import argparse
import json
import os
import pathlib
import platform
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

_PRESETS = pathlib.Path(__file__).resolve().parents[1] / "kvdm" / "presets"
# The shipped file must stay small enough for the package.
_MAX_BYTES = 20 * 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--name", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--num-videos", type=int, default=64)
    parser.add_argument("--run", default=None, help="run folder (default: runs/preset-NAME)")
    parser.add_argument("--trained", default=None, metavar="RUN",
                        help="pack this run of bench/train_accelerator.py instead of training")
    parser.add_argument("--trained-command", default=None, help="the command that trained --trained")
    parser.add_argument("--machine", default=None, help="where --trained was trained")
    args = parser.parse_args()

    from kvdm.config import load_recipe

    recipe = load_recipe(args.recipe, overrides=args.overrides)
    os.environ.setdefault("KERAS_BACKEND", recipe.train.backend)

    from kvdm.data import MovingDigits
    from kvdm.io import write_gif
    from kvdm.metrics import DigitEvaluator
    from kvdm.training import checkpoint as checkpoint_lib
    from kvdm.training import generate
    from kvdm.training import load_for_sampling
    from kvdm.training import train

    if args.trained:
        run = pathlib.Path(args.trained)
        export, meta = _trained_run(run, recipe)
    else:
        run = pathlib.Path(args.run or pathlib.Path("runs") / f"preset-{args.name}")
        resume = run.is_dir() and bool(checkpoint_lib.list_checkpoints(str(run)))
        result = train(recipe, str(run), resume=resume, verbose=2)
        if result.interrupted:
            raise SystemExit(f"Interrupted at step {result.step}; run again to resume.")
        export, meta = result.export, checkpoint_lib.read_meta(result.checkpoint)
    size = os.path.getsize(export)
    if size > _MAX_BYTES:
        raise SystemExit(f"{export} is {size / 2**20:.1f} MiB, over the 20 MiB preset limit.")

    target = _PRESETS / args.name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(export, target / "model.keras")
    shutil.copyfile(run / "recipe.yaml", target / "recipe.yaml")

    loaded = load_for_sampling(str(target / "model.keras"))
    frames = loaded.video_shape[0]
    real = MovingDigits("test", num_frames=frames, image_size=32, num_videos=256, seed=0)
    reference = real.render(np.arange(256))[0].astype(np.float32) / 127.5 - 1.0
    prompts = None
    if loaded.recipe.model.text_encoder is not None:
        prompts = real.captions(np.arange(args.num_videos))
        videos = generate(loaded.model, loaded.recipe, loaded.video_shape, num_videos=1, seed=0, prompts=prompts)
    else:
        videos = generate(loaded.model, loaded.recipe, loaded.video_shape, num_videos=args.num_videos, seed=0)
    evaluator = DigitEvaluator()
    figures = evaluator.evaluate(videos, reference=reference)
    if prompts is not None:
        figures["prompted_digit_share"] = evaluator.label_kept(videos, real.labels[: len(videos), 0])
    write_gif(str(target / "samples.gif"), np.concatenate(list(videos[:8]), axis=2), fps=loaded.recipe.sample.fps)

    card = {
        "name": args.name,
        "recipe": os.path.basename(args.recipe),
        "overrides": args.overrides,
        "command": args.trained_command or (
            f"python bench/make_preset.py {args.recipe} --name {args.name}"
            + "".join(f" --set {o}" for o in args.overrides)
            + (f" --run {args.run}" if args.run else "")
        ),
        "step": meta["step"],
        "train_seconds": meta.get("train_seconds"),
        "step_seconds": None if meta.get("train_seconds") is None else meta["train_seconds"] / meta["step"],
        "backend": meta["backend"],
        "machine": args.machine or f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "model_bytes": size,
        "evaluator": figures,
    }
    if prompts is not None:
        card["text_encoder"] = loaded.recipe.model.text_encoder
        card["guidance_weight"] = loaded.recipe.sample.guidance_weight
        card["sample_prompts"] = prompts[:8]
    (target / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


def _trained_run(run, recipe):
    """`(model.keras path, checkpoint meta)` of a finished `train_accelerator` run."""
    from kvdm.config import load_recipe
    from kvdm.training import checkpoint as checkpoint_lib

    export = run / "model.keras"
    found = checkpoint_lib.list_checkpoints(str(run))
    if not export.is_file() or not found:
        raise SystemExit(f"{run} holds no model.keras and checkpoint of a finished run.")
    meta = checkpoint_lib.read_meta(found[-1][1])
    trained = load_recipe(str(run / "recipe.yaml")).to_dict()
    wanted = recipe.to_dict()
    for section, values in wanted.items():
        for key, value in values.items():
            if (section, key) != ("train", "steps") and trained[section][key] != value:
                raise SystemExit(
                    f"{run} was trained with {section}.{key}={trained[section][key]!r}, "
                    f"the recipe says {value!r}."
                )
    return str(export), meta


if __name__ == "__main__":
    main()
