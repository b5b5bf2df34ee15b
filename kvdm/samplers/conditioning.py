"""Conditioning methods for sampling `p(x^b | x^a)` from an unconditional model.

Section 3.1 of the paper. Known frames `x^a` sit at the frames where a mask is
1; the sampler updates the whole latent and then each method decides what the
known part of `z_s` becomes:

- "replacement": `z^a_s` is a fresh sample of `q(z^a_s | x^a)` (the marginal).
- "replacement_conditional": `z^a_s` is sampled from `q(z^a_s | x^a, z^a_t)`
  (equation 3 with the true `x^a`), which also has the right joint with
  `z^a_t`.
- "reconstruction_guidance": as "replacement", and in addition the denoiser's
  estimate is corrected with equation 7 (and equation 8 for low-resolution
  targets), see `kvdm.samplers.guidance.reconstruction_guidance`.

- "context" (beyond the paper): the known frames enter the network clean,
  each with the log-SNR `CONTEXT_LOGSNR`, and the network itself continues
  them. Only for networks trained with clean leading frames
  (`VideoDiffusion(context_frames=...)`); `z^a_s` is then replaced as in
  "replacement", though the network never reads it.

The methods are interchangeable by name in every sampler.
"""

from keras import ops

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import expand_to
from kvdm.diffusion.parameterization import merge_frames
from kvdm.names import CONDITIONING_METHODS
from kvdm.samplers.posterior import posterior_mean
from kvdm.samplers.posterior import posterior_variance
from kvdm.utils import validation


def check_conditioning(name):
    """Returns `name` if it is one of `CONDITIONING_METHODS`."""
    return validation.choice(
        name, "conditioning", CONDITIONING_METHODS, what="conditioning method"
    )


# `mask * known + (1 - mask) * unknown` with a `(B, T)` frame mask.
merge = merge_frames


def forward_sample(x, logsnr, noise):
    """A sample of `q(z | x)` (equation 1) from given standard noise."""
    alpha, sigma = alpha_sigma(expand_to(logsnr, len(x.shape)))
    return alpha * x + sigma * noise


def initial_latent(noise, context, context_mask, logsnr):
    """`z_1`: standard noise, with the known frames drawn from `q(z^a_1 | x^a)`."""
    if context is None:
        return noise
    return merge(context_mask, forward_sample(context, logsnr, noise), noise)


def replace_known(method, z_s, z_t, context, context_mask, logsnr_t, logsnr_s, noise):
    """Replaces the known frames of `z_s` according to `method`.

    Args:
        method: str. One of `CONDITIONING_METHODS`.
        z_s: tensor. The sampler's update of the whole latent.
        z_t: tensor. The latent before the update.
        context: tensor. Known frames `x^a` (other frames are ignored).
        context_mask: tensor `(B, T)`. 1 on known frames.
        logsnr_t, logsnr_s: tensors `(B,)`, with `s < t`.
        noise: tensor. Standard normal noise of the shape of `z_s`.

    Returns:
        `z_s` with its known frames replaced.
    """
    if context is None:
        return z_s
    if method == "replacement_conditional":
        # q(z^a_s | x^a, z^a_t), equation 3.
        std = ops.sqrt(posterior_variance(logsnr_t, logsnr_s))
        known = posterior_mean(z_t, context, logsnr_t, logsnr_s)
        known = known + expand_to(std, len(z_s.shape)) * noise
    else:
        # q(z^a_s | x^a), equation 1.
        known = forward_sample(context, logsnr_s, noise)
    return merge(context_mask, known, z_s)
