"""Table 6 at CPU scale: long videos by autoregressive extension, two conditioning methods.

    python bench/experiments/table6_extension.py [--run runs/preset-moving_digits]
        [--num-videos 8] [--num-frames 32] [--num-steps 16] [--fvd-videos 8]

The first window (8 frames) of each held-out MovingDigits test video is
given; an 8-frame model extends it to `--num-frames` frames, each new window
starting with the last half window already generated (`kvdm.samplers.extend`),
once with the known frames imposed by replacement and once with
reconstruction guidance (equation 7). The paper extends a 16-frame model to
64 frames; this is the same experiment at a quarter of the length.

Measured on the generated frames (after the first 8): the share that the
digit classifier gives the input's digit (identity kept), the evaluator's
figures on the whole videos against real videos of the same length, and FVD
on `--fvd-videos` clips against as many real ones (frames bilinearly resized
to 224x224 for I3D; a Frechet distance over so few clips is biased upwards
and noisy, so only the gap between the rows means anything).
"""

import experiment_utils as utils
import numpy as np

# (row label, conditioning method) in the order of the paper's Table 6.
METHODS = (("replacement", "replacement"), ("reconstruction guidance", "reconstruction_guidance"))


def main():
    parser = utils.parser(__doc__.splitlines()[0], "table6_extension", "runs/preset-moving_digits",
                          num_videos=8, num_steps=16)
    parser.add_argument("--num-frames", type=int, default=32)
    parser.add_argument("--fvd-videos", type=int, default=8, help="clips per FVD (0: no FVD)")
    parser.add_argument("--sampler", default="ddim")
    parser.add_argument("--reconstruction-weight", type=float, default=None,
                        help="w_r of equation 7 (default: the run's recipe)")
    args = parser.parse_args()
    clock = utils.Stopwatch()

    from kvdm import samplers
    from kvdm.metrics import DigitEvaluator
    from kvdm.training import load_for_sampling

    loaded = load_for_sampling(args.run)
    window = loaded.video_shape[0]
    weight = args.reconstruction_weight
    if weight is None:
        weight = loaded.recipe.sample.reconstruction_weight
    held_out, labels, _ = utils.real_videos(args.num_videos, args.num_frames, seed=1)
    reference, _, _ = utils.real_videos(max(64, args.num_videos), args.num_frames, seed=0)
    evaluator = DigitEvaluator()

    rows = [{"method": "real test videos (ceiling)", "videos": args.num_videos,
             "label_kept": evaluator.label_kept(held_out, labels, start=window),
             **evaluator.evaluate(held_out, reference)}]
    generated = {}
    for label, method in METHODS:
        start = utils.Stopwatch()
        videos = samplers.extend(
            loaded.model, held_out[:, :window], args.num_frames, window_frames=window,
            sampler=args.sampler, conditioning=method, num_steps=args.num_steps,
            reconstruction_weight=weight, seed=args.seed, progress=False)
        videos = utils.to_numpy(videos)
        generated[label] = videos
        rows.append({"method": label, "videos": args.num_videos, "sample_minutes": start.minutes(),
                     "label_kept": evaluator.label_kept(videos, labels, start=window),
                     **evaluator.evaluate(videos, reference)})
        print(f"{label}: {start.minutes():.1f} min", flush=True)

    if args.fvd_videos:
        from kvdm.metrics import I3D
        from kvdm.metrics.feature_distances import as_rgb
        from kvdm.metrics.feature_distances import frechet_score

        count = min(args.fvd_videos, args.num_videos)
        i3d = I3D()
        real_features = i3d.features(as_rgb(reference[:count], "reference"))
        rows[0]["fvd"] = frechet_score("fvd", real_features, i3d.features(as_rgb(held_out[:count], "real"))).value
        for row in rows[1:]:
            features = i3d.features(as_rgb(generated[row["method"]][:count], "generated"))
            row["fvd"] = frechet_score("fvd", real_features, features).value

    columns = [("method", "method"), ("videos", "videos"), ("label_kept", "identity kept (frames > 8)"),
               ("majority_share", "majority share"), ("one_label_share", "one-label share"),
               ("confidence", "confidence"), ("frechet_distance", "digit Frechet"), ("fvd", "FVD"),
               ("sample_minutes", "sampling min")]
    fvd_note = (f"FVD: I3D features of {min(args.fvd_videos, args.num_videos)} clips of {args.num_frames} frames "
                f"against {min(args.fvd_videos, args.num_videos)} other real test clips; the real row compares "
                "two real sets of that size (the floor that sample size allows)." if args.fvd_videos
                else "FVD not computed (--fvd-videos 0).")
    notes = [
        f"Run `{args.run}` ({window}-frame model), extended {window} -> {args.num_frames} frames "
        f"(paper: 16 -> 64), {args.sampler} sampler, {args.num_steps} steps per window, windows overlapping "
        f"by {window // 2} frames, w_r = {weight:g}, seed {args.seed}.",
        f"Identity kept: share of generated frames (after the given {window}) that the digit classifier "
        f"gives the input video's digit, over {args.num_videos} held-out test videos.",
        f"Majority share, one-label share, confidence and digit Frechet are `DigitEvaluator` figures of the "
        f"whole {args.num_frames}-frame videos; digit Frechet against {len(reference)} real test videos.",
        fvd_note,
        "Paper (Table 6, UCF101 64 frames): FVD 451 with replacement, 136 with reconstruction guidance.",
    ]
    output = utils.pathlib.Path(args.output)
    utils.write_report(output, "Table 6 at CPU scale: autoregressive extension",
                       utils.markdown_table(columns, rows), notes, clock.minutes())

    figure, axis = utils.new_figure()
    frames = np.arange(args.num_frames)
    axis.plot(frames, utils.label_kept_per_frame(evaluator, held_out, labels), "k:", label="real")
    for label, videos in generated.items():
        axis.plot(frames, utils.label_kept_per_frame(evaluator, videos, labels), marker=".", label=label)
    axis.axvline(window - 0.5, color="grey", lw=0.8)
    axis.set_xlabel("frame (the first %d given)" % window)
    axis.set_ylabel("share with the input's digit")
    axis.set_ylim(0.0, 1.05)
    axis.set_title(f"Identity over time, {args.num_videos} videos", fontsize=9)
    axis.legend(fontsize=7)
    utils.save_figure(figure, output / "plot.png")

    grid = []
    for index in range(min(2, args.num_videos)):
        grid.append((f"real {index}", held_out[index]))
        for label, videos in generated.items():
            grid.append((f"{label.split()[0]} {index}", videos[index]))
    utils.save_grid(output / "samples.png", grid, every=2,
                    title=f"every 2nd frame of {args.num_frames}; first {window} given")


if __name__ == "__main__":
    main()
