"""Replacement against reconstruction guidance on Gaussian data (a figure).

For data `x ~ N(0, S)` the best denoiser is linear and known in closed form,
`x_hat(z) = alpha S (alpha^2 S + sigma^2 I)^-1 z`, and so is the conditional
`p(x^b | x^a)` that video prediction should sample. This script samples
6-frame "videos" of one pixel (S: correlation 0.9^|i - j| between frames)
given their first 2 frames, with kvdm's ancestral sampler and each
conditioning method, and compares the samples of the 4 unknown frames with
the exact conditional (the tests check the same, tests/test_samplers_guidance.py).

    python docs/scripts/guidance_figure.py --output docs/assets/concepts/guidance_gaussian.svg
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

FRAMES, KNOWN = 6, 2
OBSERVED = np.array([0.5, 1.0])
METHODS = (
    ("replacement", "replacement", 1.0),
    ("replacement_conditional", "replacement\nconditional", 1.0),
    ("reconstruction_guidance", "guidance\nw_r=1", 1.0),
    ("reconstruction_guidance", "guidance\nw_r=2", 2.0),
    ("reconstruction_guidance", "guidance\nw_r=5", 5.0),
)


class GaussianDenoiser:
    """The exact eps-predicting denoiser of `N(0, covariance)` data."""

    prediction_type = "eps"

    def __init__(self, covariance):
        from keras import ops

        values, vectors = np.linalg.eigh(covariance)
        self.values = ops.convert_to_tensor(values.astype("float32"))
        self.vectors = ops.convert_to_tensor(vectors.astype("float32"))
        self.size = len(covariance)

    def __call__(self, z, logsnr, condition=None):
        from keras import ops

        from kvdm.diffusion import alpha_sigma
        from kvdm.diffusion import from_x

        flat = ops.reshape(ops.cast(z, "float32"), (-1, self.size))
        alpha, sigma = alpha_sigma(ops.expand_dims(logsnr, -1))
        gains = alpha * self.values / (alpha**2 * self.values + sigma**2)
        x_hat = ops.matmul(ops.matmul(flat, self.vectors) * gains, ops.transpose(self.vectors))
        eps = from_x(x_hat, flat, logsnr, "eps")
        return ops.reshape(eps, ops.shape(z))


def exact_conditional(covariance):
    a = np.eye(FRAMES)[:KNOWN]
    gain = covariance @ a.T @ np.linalg.inv(a @ covariance @ a.T)
    mean = gain @ OBSERVED
    cov = covariance - gain @ a @ covariance
    return mean[KNOWN:], cov[KNOWN:, KNOWN:]


def gaussian_kl(mean_p, cov_p, mean_q, cov_q):
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q))."""
    inverse = np.linalg.inv(cov_q)
    difference = mean_q - mean_p
    return 0.5 * float(np.trace(inverse @ cov_p) + difference @ inverse @ difference - len(mean_p)
                       + np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1])


def run(num_samples, num_steps):
    from keras import ops

    from kvdm.samplers import get_sampler

    index = np.arange(FRAMES)
    covariance = 0.9 ** np.abs(index[:, None] - index[None, :])
    denoiser = GaussianDenoiser(covariance)
    mean, cov = exact_conditional(covariance)
    context = np.zeros((1, FRAMES, 1, 1, 1), "float32")
    context[0, :KNOWN, 0, 0, 0] = OBSERVED
    mask = np.array([1.0] * KNOWN + [0.0] * (FRAMES - KNOWN), "float32")
    results = []
    for method, label, weight in METHODS:
        sampler = get_sampler("ancestral", num_steps=num_steps, conditioning=method,
                              reconstruction_weight=weight, progress=False)
        samples = sampler(denoiser, (num_samples, FRAMES, 1, 1, 1), context=context, context_mask=mask, seed=0)
        samples = np.asarray(ops.convert_to_numpy(samples), "float64").reshape(num_samples, FRAMES)[:, KNOWN:]
        kl = gaussian_kl(samples.mean(0), np.cov(samples, rowvar=False), mean, cov)
        results.append((label, samples.mean(0), samples.std(0), kl))
    return mean, np.sqrt(np.diag(cov)), results


def draw(output, mean, std, results, num_samples, num_steps):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1.3, 1]})
    frames = np.arange(KNOWN, FRAMES)
    left.plot(range(KNOWN), OBSERVED, "ks", label="known frames")
    left.fill_between(frames, mean - std, mean + std, color="#cccccc", label="exact p(x_b | x_a), mean ± std")
    left.plot(frames, mean, "k-", linewidth=1.5)
    colors = ["#d62728", "#ff7f0e", "#9ecae1", "#3182bd", "#08519c"]
    for (label, m, s, _), color, shift in zip(results, colors, np.linspace(-0.16, 0.16, len(results))):
        legend = label.replace("\n", " ").replace("guidance", "reconstruction guidance")
        left.errorbar(frames + shift, m, yerr=s, fmt="o", markersize=3, capsize=2, color=color, label=legend)
    left.set_xlabel("frame")
    left.set_ylabel("pixel value")
    left.set_title("samples of the 4 unknown frames (mean ± std)", fontsize=9)
    left.legend(fontsize=6.5, loc="lower left")
    names = [label for label, *_ in results]
    kls = [kl for *_, kl in results]
    right.bar(range(len(kls)), kls, color=colors)
    right.set_xticks(range(len(kls)))
    right.set_xticklabels(names, fontsize=7)
    right.set_ylabel("KL(samples || exact conditional)")
    right.set_title(f"ancestral sampler, {num_steps} steps, {num_samples} samples", fontsize=9)
    for i, kl in enumerate(kls):
        right.text(i, kl, f"{kl:.3f}", ha="center", va="bottom", fontsize=7)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    figure.savefig(output)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--output", default="docs/assets/concepts/guidance_gaussian.svg")
    args = parser.parse_args()
    mean, std, results = run(args.num_samples, args.steps)
    for label, _, _, kl in results:
        print(f"{label.replace(chr(10), ' '):40s} KL {kl:.4f}")
    draw(args.output, mean, std, results, args.num_samples, args.steps)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
