"""Table 4 at CPU scale: joint image-video training with 0, 4 and 8 image frames at equal compute.

    python bench/experiments/table4_joint_training.py [--base-steps 100]
        [--image-frames 0 4 8] [--runs-dir runs] [--num-videos 8] [--num-steps 16]

Three runs of recipes/moving_digits.yaml differ only in
`diffusion.num_image_frames`: each 8-frame training video gets N extra frames
taken from other videos, which the model denoises as independent images
(the temporal attention masked). An image frame makes a step costlier, so
the runs get the same compute, not the same steps:

1. the CPU seconds of one train step are measured for each N (a few steps
   after warm-up, in this process, `time.process_time`: the CPU time this
   process used over all its threads, which does not grow when other work
   slows the machine down);
2. run N trains `round(base_steps * t_0 / t_N)` steps (`equal_compute_steps`),
   so every run spends about the CPU time of `--base-steps` steps without
   image frames;
3. each run is trained with `kvdm train` into `RUNS_DIR/t4-N` (resumed, or
   skipped when it already holds that many steps), then sampled
   unconditionally and scored with `DigitEvaluator` against real test videos.

The paper (Table 4, text-to-video 64x64 at 16 frames) reports FVD 202, 68
and 58 for 0, 4 and 8 image frames; here, 8-frame videos are too short for
I3D, so the figures are the digit evaluator's (digit Frechet in place of FVD).
"""

import os
import subprocess
import sys
import time

import experiment_utils as utils

RECIPE = "recipes/moving_digits.yaml"


def equal_compute_steps(base_steps, step_seconds, reference=0):
    """Steps per setting so that every setting costs `base_steps` reference steps.

    Args:
        base_steps: int. Steps of the reference setting.
        step_seconds: dict `{setting: seconds per step}`.
        reference: key of `step_seconds` whose steps are `base_steps`.
            Defaults to 0 (no image frames).

    Returns:
        dict `{setting: steps}`, each at least 1.

    Example:

    >>> equal_compute_steps(300, {0: 1.0, 4: 1.5, 8: 2.0})
    {0: 300, 4: 200, 8: 150}
    """
    if reference not in step_seconds:
        raise ValueError(f"`step_seconds` has no entry for the reference setting. Received: reference={reference!r}")
    if base_steps < 1 or any(seconds <= 0 for seconds in step_seconds.values()):
        raise ValueError(
            "`base_steps` must be at least 1 and every step time positive. "
            f"Received: base_steps={base_steps}, step_seconds={step_seconds}"
        )
    budget = base_steps * step_seconds[reference]
    return {key: max(1, int(round(budget / seconds))) for key, seconds in step_seconds.items()}


def measure_step_seconds(image_frames, warmup=2, steps=4):
    """CPU seconds of one train step of the recipe with `image_frames` image frames."""
    import keras

    from kvdm.config import load_recipe
    from kvdm.training import builders

    recipe = load_recipe(RECIPE, overrides=[f"diffusion.num_image_frames={image_frames}"])
    keras.utils.set_random_seed(recipe.train.seed)
    dataset, video_shape = builders.build_dataset(recipe)
    example = next(iter(dataset.take(1)))
    model = builders.build_training_model(recipe, video_shape, example)
    model.fit(dataset, epochs=1, steps_per_epoch=warmup, verbose=0)
    start = time.process_time()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    seconds = (time.process_time() - start) / steps
    keras.backend.clear_session()
    return seconds


def trained_steps(run):
    """Steps of the newest checkpoint of a run folder (0 if none)."""
    from kvdm.training import checkpoint as checkpoint_lib

    found = checkpoint_lib.list_checkpoints(run) if os.path.isdir(run) else []
    return int(found[-1][0]) if found else 0


def train(run, image_frames, steps):
    """Trains (or resumes) one run with `kvdm train` in a niced child process."""
    kvdm = os.path.join(os.path.dirname(sys.executable), "kvdm")
    command = ["nice", "-n", "19", kvdm, "train", RECIPE, "--output", run,
               "--set", f"diffusion.num_image_frames={image_frames}", "--set", f"train.steps={steps}",
               "--set", f"train.checkpoint_every={steps}"]
    if trained_steps(run):
        command.append("--resume")
    print("kvdm", " ".join(command[4:]), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"Training {run} failed:\n{result.stderr[-3000:]}")


def main():
    parser = utils.parser(__doc__.splitlines()[0], "table4_joint_training", None, num_videos=8, num_steps=16)
    parser.add_argument("--image-frames", type=int, nargs="+", default=[0, 4, 8])
    parser.add_argument("--base-steps", type=int, default=100,
                        help="train steps of the run without image frames; the others get equal compute")
    parser.add_argument("--runs-dir", default="runs", help="the runs are RUNS_DIR/t4-N")
    parser.add_argument("--timing-steps", type=int, default=3)
    args = parser.parse_args()
    clock = utils.Stopwatch()
    if 0 not in args.image_frames:
        parser.error(f"--image-frames must include 0, the reference. Received: {args.image_frames}")

    step_seconds = {n: measure_step_seconds(n, steps=args.timing_steps) for n in args.image_frames}
    steps = equal_compute_steps(args.base_steps, step_seconds)
    print("CPU seconds per step:", {n: round(s, 3) for n, s in step_seconds.items()}, "-> steps:", steps,
          flush=True)
    runs = {n: os.path.join(args.runs_dir, f"t4-{n}") for n in args.image_frames}
    for n, run in runs.items():
        if trained_steps(run) < steps[n]:
            train(run, n, steps[n])

    from kvdm.metrics import DigitEvaluator
    from kvdm.training import load_for_sampling
    from kvdm.training import generate
    from kvdm.training import checkpoint as checkpoint_lib

    evaluator = DigitEvaluator()
    held_out, _, _ = utils.real_videos(args.num_videos, 8, seed=1)
    reference, _, _ = utils.real_videos(max(64, args.num_videos), 8, seed=0)
    rows = [{"setting": "real test videos", "videos": args.num_videos, **evaluator.evaluate(held_out, reference)}]
    generated = {}
    for n, run in runs.items():
        loaded = load_for_sampling(run)
        meta = checkpoint_lib.read_meta(loaded.source)
        recipe = loaded.recipe.replace(sample=loaded.recipe.sample.replace(num_steps=args.num_steps))
        videos = generate(loaded.model, recipe, loaded.video_shape, num_videos=args.num_videos,
                          seed=args.seed, progress=False)
        generated[n] = videos
        rows.append({"setting": f"{n} image frames", "videos": args.num_videos, "steps": meta["step"],
                     "cpu_step": step_seconds[n], "cpu_minutes": meta["step"] * step_seconds[n] / 60.0,
                     "wall_minutes": meta.get("train_seconds", float("nan")) / 60.0,
                     **evaluator.evaluate(videos, reference)})

    columns = [("setting", "setting"), ("steps", "train steps"), ("cpu_step", "CPU s/step"),
               ("cpu_minutes", "CPU min (steps x s/step)"), ("wall_minutes", "wall min"), ("videos", "videos"),
               ("majority_share", "majority share"), ("one_label_share", "one-label share"),
               ("confidence", "confidence"), ("frechet_distance", "digit Frechet")]
    notes = [
        f"Runs `{args.runs_dir}/t4-N` of `{RECIPE}` (8 frames of 32x32, batch 8) with N image frames per video; "
        f"equal compute: steps = round({args.base_steps} x t_0 / t_N) with t_N the CPU seconds of one step "
        f"measured over {args.timing_steps} steps after 2 warm-up steps (process CPU time over all threads, "
        "unaffected by other load; wall minutes depend on the load of the shared machine).",
        f"Sampling: {args.num_videos} unconditional videos per run, the recipe's sampler with "
        f"{args.num_steps} steps, seed {args.seed}; digit Frechet against {len(reference)} real test videos "
        "(biased upwards at this sample size: compare rows only).",
        "No FVD: I3D needs at least 9 frames and these models make 8.",
        "Paper (Table 4, text-to-video 64x64, 16 frames): FVD 202, 68, 58 with 0, 4, 8 image frames.",
    ]
    output = utils.pathlib.Path(args.output)
    utils.write_report(output, "Table 4 at CPU scale: joint image-video training at equal compute",
                       utils.markdown_table(columns, rows), notes, clock.minutes())

    figure, left = utils.new_figure()
    counts = list(generated)
    fitted = rows[1:]
    left.plot(counts, [row["majority_share"] for row in fitted], "o-", label="majority share")
    left.plot(counts, [row["confidence"] for row in fitted], "s-", label="confidence")
    left.set_xlabel("image frames per video")
    left.set_xticks(counts)
    left.set_ylim(0.0, 1.05)
    right = left.twinx()
    right.plot(counts, [row["frechet_distance"] for row in fitted], "^--", color="C3", label="digit Frechet")
    right.set_ylabel("digit Frechet (lower is better)")
    handles = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="lower right")
    left.set_title("Equal compute of %d steps without image frames" % args.base_steps, fontsize=9)
    utils.save_figure(figure, output / "plot.png")

    grid = [("real", held_out[0])]
    for n, videos in generated.items():
        for index in range(min(2, len(videos))):
            grid.append((f"N={n} #{index}", videos[index]))
    utils.save_grid(output / "samples.png", grid, title="unconditional samples per number of image frames")


if __name__ == "__main__":
    main()
