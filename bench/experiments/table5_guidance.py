"""Table 5 at CPU scale: classifier-free guidance weights on a text-conditioned model.

    python bench/experiments/table5_guidance.py [--run runs/preset-moving_digits_text]
        [--num-videos 8] [--num-steps 16] [--weights 0 1 2 4]

Each held-out MovingDigits test video's caption ("the digit 7 moves left",
as in training) prompts one sample at each guidance weight `w` of equation 6
(`(1 + w) eps(z, c) - w eps(z)`; `w = 0` is the plain conditional model),
from the same noise. Measured: the share of frames that the digit classifier
gives the prompted digit (prompt fidelity, as `bench/make_preset.py`'s
`prompted_digit_share`), its mean top-class confidence, a digit-classifier
Inception Score (`exp E KL(p(y|frame) || p(y))` over all frames; the
in-domain stand-in for the paper's IS), the evaluator's majority share and the
digit Frechet distance against real test videos (the stand-in for FVD: I3D
needs at least 9 frames).
"""

import experiment_utils as utils
import numpy as np


def digit_inception_score(evaluator, videos):
    """The Inception Score of the digit classifier over every frame of `videos`."""
    from kvdm.metrics import inception_score

    probs, _ = evaluator.classify(videos)
    return inception_score(np.log(probs.reshape(-1, 10) + 1e-12)).value


def main():
    parser = utils.parser(__doc__.splitlines()[0], "table5_guidance", "runs/preset-moving_digits_text",
                          num_videos=8, num_steps=16)
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    parser.add_argument("--sampler", default="ddim")
    args = parser.parse_args()
    clock = utils.Stopwatch()

    from kvdm import samplers
    from kvdm.metrics import DigitEvaluator
    from kvdm.training import load_for_sampling
    from kvdm.training.sampling import prompt_condition

    loaded = load_for_sampling(args.run)
    frames = loaded.video_shape[0]
    held_out, labels, captions = utils.real_videos(args.num_videos, frames, seed=1)
    reference, _, _ = utils.real_videos(max(64, args.num_videos), frames, seed=0)
    evaluator = DigitEvaluator()
    condition = prompt_condition(loaded.model, captions, loaded.recipe)

    rows = [{"weight": "real test videos", "videos": args.num_videos,
             "prompted": evaluator.label_kept(held_out, labels),
             "digit_is": digit_inception_score(evaluator, held_out),
             **evaluator.evaluate(held_out, reference)}]
    generated = {}
    for weight in args.weights:
        start = utils.Stopwatch()
        videos = utils.to_numpy(samplers.sample(
            loaded.model, (args.num_videos,) + tuple(loaded.video_shape), sampler=args.sampler,
            num_steps=args.num_steps, condition=condition, guidance_weight=weight, seed=args.seed,
            progress=False))
        generated[weight] = videos
        rows.append({"weight": f"w = {weight:g}", "videos": args.num_videos, "sample_minutes": start.minutes(),
                     "prompted": evaluator.label_kept(videos, labels),
                     "digit_is": digit_inception_score(evaluator, videos),
                     **evaluator.evaluate(videos, reference)})
        print(f"w = {weight:g}: {start.minutes():.1f} min", flush=True)

    columns = [("weight", "guidance"), ("videos", "videos"), ("prompted", "prompted digit share"),
               ("confidence", "confidence"), ("digit_is", "digit IS"), ("majority_share", "majority share"),
               ("frechet_distance", "digit Frechet"), ("sample_minutes", "sampling min")]
    notes = [
        f"Run `{args.run}` (text encoder {loaded.recipe.model.text_encoder}, condition dropout "
        f"{loaded.recipe.diffusion.condition_dropout:g}), {args.num_videos} captions of held-out test videos, "
        f"one video each per weight, {args.sampler} sampler, {args.num_steps} steps, the same seed ({args.seed}) "
        "for every weight.",
        f"Prompted digit share: frames that the digit classifier gives the caption's digit. Digit IS: "
        f"Inception Score of the digit classifier over the {args.num_videos * frames} frames (10 at most).",
        f"Digit Frechet: `DigitEvaluator` features of the {frames}-frame videos against {len(reference)} real "
        "test videos; with so few samples it is biased upwards, compare rows only.",
        "Paper (Table 5, text-to-video 64x64): as the guidance weight grows, FVD falls and IS rises; "
        "FID-first and IS of single frames improve too.",
    ]
    output = utils.pathlib.Path(args.output)
    utils.write_report(output, "Table 5 at CPU scale: classifier-free guidance",
                       utils.markdown_table(columns, rows), notes, clock.minutes())

    figure, left = utils.new_figure()
    weights = list(generated)
    fitted = rows[1:]
    left.plot(weights, [row["prompted"] for row in fitted], "o-", label="prompted digit share")
    left.plot(weights, [row["confidence"] for row in fitted], "s-", label="confidence")
    left.set_xlabel("guidance weight w")
    left.set_ylabel("share / probability")
    left.set_ylim(0.0, 1.05)
    right = left.twinx()
    right.plot(weights, [row["frechet_distance"] for row in fitted], "^--", color="C3", label="digit Frechet")
    right.set_ylabel("digit Frechet (lower is better)")
    handles = left.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    left.legend(handles[0] + more[0], handles[1] + more[1], fontsize=7, loc="lower right")
    left.set_title(f"Classifier-free guidance, {args.num_videos} prompts", fontsize=9)
    utils.save_figure(figure, output / "plot.png")

    grid = []
    for index in range(min(2, args.num_videos)):
        grid.append((f"real {index}", held_out[index]))
        for weight, videos in generated.items():
            grid.append((f"w={weight:g} {index}", videos[index]))
    prompts = "; ".join(f"{index}: {captions[index]}" for index in range(min(2, args.num_videos)))
    utils.save_grid(output / "samples.png", grid, title=prompts)


if __name__ == "__main__":
    main()
