"""Table 2 at CPU scale: video prediction, ancestral sampler against predictor-corrector.

    python bench/experiments/table2_prediction.py [--run runs/preset-moving_digits]
        [--num-videos 8] [--num-steps 16] [--context-frames 1]

The first frame of each held-out MovingDigits test video is given and an
8-frame model samples the other 7 (`kvdm.samplers.predict`, reconstruction
guidance); the paper's BAIR protocol gives 1 frame and generates 15. The two
samplers get the same number of network evaluations: the ancestral sampler
runs `2 * --num-steps` steps, the predictor-corrector sampler `--num-steps`
predictor steps each followed by one Langevin corrector step (equation 5).

Measured on the predicted frames: the share that the digit classifier gives
the input's digit (label kept), PSNR and SSIM against the real continuation
(a stochastic prediction is not meant to match it exactly: these say how close
the motion stays to the one real future), and the evaluator's figures of the
whole videos against real test videos.
"""

import experiment_utils as utils
import numpy as np


def samplers_compared(num_steps):
    """`(label, sampler name, steps, options)` with equal network evaluations."""
    return (
        (f"ancestral, {2 * num_steps} steps", "ancestral", 2 * num_steps, {}),
        (f"predictor-corrector, {num_steps}+{num_steps} steps", "predictor_corrector", num_steps,
         {"num_corrector_steps": 1}),
    )


def main():
    parser = utils.parser(__doc__.splitlines()[0], "table2_prediction", "runs/preset-moving_digits",
                          num_videos=8, num_steps=16)
    parser.add_argument("--context-frames", type=int, default=1)
    parser.add_argument("--delta", type=float, default=0.1, help="Langevin step size of the corrector")
    args = parser.parse_args()
    clock = utils.Stopwatch()

    from kvdm import samplers
    from kvdm.metrics import DigitEvaluator
    from kvdm.metrics import psnr_per_image
    from kvdm.metrics import ssim_per_image
    from kvdm.training import load_for_sampling

    loaded = load_for_sampling(args.run)
    frames = loaded.video_shape[0]
    known = args.context_frames
    weight = loaded.recipe.sample.reconstruction_weight
    held_out, labels, _ = utils.real_videos(args.num_videos, frames, seed=1)
    reference, _, _ = utils.real_videos(max(64, args.num_videos), frames, seed=0)
    evaluator = DigitEvaluator()

    rows = [{"sampler": "real continuation (ceiling)", "videos": args.num_videos,
             "label_kept": evaluator.label_kept(held_out, labels, start=known),
             **evaluator.evaluate(held_out, reference)}]
    generated = {}
    curves = {}
    for label, name, steps, options in samplers_compared(args.num_steps):
        if name == "predictor_corrector":
            options = dict(options, delta=args.delta)
        start = utils.Stopwatch()
        videos = utils.to_numpy(samplers.predict(
            loaded.model, held_out[:, :known], frames, sampler=name, num_steps=steps,
            reconstruction_weight=weight, seed=args.seed, progress=False, **options))
        generated[label] = videos
        psnr = psnr_per_image(videos[:, known:], held_out[:, known:])
        ssim = ssim_per_image(videos[:, known:], held_out[:, known:])
        curves[label] = psnr.mean(axis=0)
        rows.append({"sampler": label, "videos": args.num_videos, "sample_minutes": start.minutes(),
                     "label_kept": evaluator.label_kept(videos, labels, start=known),
                     "psnr": float(psnr.mean()), "ssim": float(ssim.mean()),
                     **evaluator.evaluate(videos, reference)})
        print(f"{label}: {start.minutes():.1f} min", flush=True)

    columns = [("sampler", "sampler"), ("videos", "videos"), ("label_kept", "label kept"),
               ("psnr", "PSNR dB"), ("ssim", "SSIM"), ("majority_share", "majority share"),
               ("confidence", "confidence"), ("frechet_distance", "digit Frechet"),
               ("sample_minutes", "sampling min")]
    notes = [
        f"Run `{args.run}`: {known} given frame(s), {frames - known} predicted (paper, BAIR: 1 -> 15), "
        f"{args.num_videos} held-out test videos, one sample each, reconstruction guidance w_r = {weight:g}, "
        f"Langevin delta = {args.delta:g}, seed {args.seed}.",
        "Both samplers make the same number of network evaluations "
        f"({2 * args.num_steps} per video, plus the guidance gradients).",
        f"Label kept, PSNR and SSIM over the {frames - known} predicted frames; PSNR/SSIM against the real "
        "continuation on [0, 1] pixels (SSIM: 11x11 Gaussian window).",
        f"Majority share, confidence and digit Frechet: `DigitEvaluator` on the whole {frames}-frame videos, "
        f"Frechet against {len(reference)} real test videos. No FVD: I3D needs at least 9 frames.",
        "Paper (Table 2, BAIR 64x64): FVD 68.19 with the ancestral sampler (512 steps) against 66.92 "
        "with the predictor-corrector (Langevin) sampler (256 steps).",
    ]
    output = utils.pathlib.Path(args.output)
    utils.write_report(output, "Table 2 at CPU scale: video prediction",
                       utils.markdown_table(columns, rows), notes, clock.minutes())

    figure, axis = utils.new_figure()
    steps = np.arange(known, frames)
    for label, curve in curves.items():
        axis.plot(steps, curve, marker=".", label=label)
    axis.set_xlabel(f"frame (the first {known} given)")
    axis.set_ylabel("PSNR against the real frame, dB")
    axis.set_title(f"Prediction error over time, {args.num_videos} videos", fontsize=9)
    axis.legend(fontsize=7)
    utils.save_figure(figure, output / "plot.png")

    grid = []
    for index in range(min(3, args.num_videos)):
        grid.append((f"real {index}", held_out[index]))
        for label, videos in generated.items():
            grid.append((f"{label.split(',')[0]} {index}", videos[index]))
    utils.save_grid(output / "samples.png", grid, title=f"first {known} frame(s) given")


if __name__ == "__main__":
    main()
