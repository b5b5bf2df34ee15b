"""Clean leading frames: per-frame log-SNR, training masks, "context" sampling.

The sampling checks are exact: for Gaussian data the denoiser that sees some
frames clean (each frame with its own log-SNR) is known in closed form, so
the "context" conditioning must sample `p(x^b | x^a)`, and anchored sampling
(`p(x^a)` then `p(x^b | x^a)`) must sample the data distribution itself.
"""

import keras
import numpy as np
import pytest
from keras import ops

from kvdm.diffusion import VideoDiffusion
from kvdm.diffusion.parameterization import CONTEXT_LOGSNR
from kvdm.layers import LogSNREmbedding
from kvdm.models import VideoUNet
from kvdm.samplers import anchored_sample
from kvdm.samplers import get_sampler
from kvdm.samplers import sample
from sampler_test_case import GaussianOracle
from sampler_test_case import ar1_covariance
from sampler_test_case import empirical_kl
from sampler_test_case import flatten_samples

FRAMES = 6


def test_logsnr_embedding_per_frame_matches_per_example():
    layer = LogSNREmbedding(16)
    values = np.array([[-3.0, 0.5, 7.0], [2.0, -9.0, 20.0]], "float32")
    per_frame = ops.convert_to_numpy(layer(values))
    assert per_frame.shape == (2, 3, 16)
    flat = ops.convert_to_numpy(layer(values.reshape(-1)))
    np.testing.assert_allclose(per_frame.reshape(6, 16), flat, rtol=1e-5, atol=1e-6)


def _tiny_unet():
    return VideoUNet(
        base_channels=8, channel_multipliers=(1, 2), num_res_blocks=1,
        attention_resolutions=(4,), head_dim=8, groups=4,
    )


def test_unet_per_frame_logsnr_with_equal_values_matches_one_per_video():
    unet = _tiny_unet()
    video = keras.random.normal((2, 3, 8, 8, 1), seed=1)
    logsnr = np.array([-2.0, 4.0], "float32")
    one = ops.convert_to_numpy(unet(video, logsnr))
    per_frame = np.repeat(logsnr[:, None], 3, axis=1)
    np.testing.assert_allclose(
        ops.convert_to_numpy(unet(video, per_frame)), one, rtol=1e-4, atol=1e-5
    )
    # Zero-initialised kernels hide the embedding: give every weight a value.
    rng = np.random.default_rng(0)
    for variable in unet.weights:
        variable.assign(0.2 * rng.standard_normal(variable.shape).astype("float32"))
    mixed = per_frame.copy()
    mixed[:, 0] = CONTEXT_LOGSNR
    changed = ops.convert_to_numpy(unet(video, mixed))
    base = ops.convert_to_numpy(unet(video, per_frame))
    assert np.abs(changed - base)[:, 0].max() > 1e-4


def test_unet_rejects_per_frame_logsnr_of_another_length():
    unet = _tiny_unet()
    video = keras.random.normal((2, 3, 8, 8, 1), seed=1)
    unet(video, np.zeros((2,), "float32"))
    with pytest.raises(ValueError, match=r"logsnr.shape=\(2, 4\)"):
        unet(video, np.zeros((2, 4), "float32"))


class _Recorder(keras.layers.Layer):
    """Returns a constant prediction and keeps what the network was given."""

    def call(self, z, logsnr, condition=None, num_image_frames=0, training=None):
        self.seen = (z, logsnr, num_image_frames)
        return ops.ones_like(z) * 7.0


def test_context_mask_counts_and_rate():
    model = VideoDiffusion(_Recorder(), context_frames=3, context_rate=0.6, seed=0)
    mask = ops.convert_to_numpy(model.context_mask(4000, 8, 10, seed=3))
    counts = mask.sum(axis=1)
    # Leading frames only, never the appended image frames.
    for row, count in zip(mask, counts):
        np.testing.assert_array_equal(row, np.arange(10) < count)
    assert set(np.unique(counts)) == {0.0, 1.0, 2.0, 3.0}
    assert abs(np.mean(counts > 0) - 0.6) < 0.03
    for value in (1.0, 2.0, 3.0):
        assert abs(np.mean(counts[counts > 0] == value) - 1 / 3) < 0.04
    # Never every frame: a 2-frame video shows at most 1 clean frame.
    short = ops.convert_to_numpy(model.context_mask(500, 2, seed=4))
    assert short.sum(axis=1).max() == 1.0
    none = ops.convert_to_numpy(model.context_mask(100, 1, seed=5))
    assert none.sum() == 0.0


def test_training_shows_context_frames_clean_and_leaves_them_out_of_the_loss():
    recorder = _Recorder()
    model = VideoDiffusion(
        recorder, prediction_type="x", context_frames=2, context_rate=1.0,
        num_image_frames=1, seed=0,
    )
    video = np.random.default_rng(0).uniform(-1, 1, (64, 4, 2, 2, 1)).astype("float32")
    out = model(video, training=False)
    z, logsnr, num_image_frames = (ops.convert_to_numpy(v) if i < 2 else v
                                   for i, v in enumerate(recorder.seen))
    assert num_image_frames == 1 and logsnr.shape == (64, 5)
    clean = logsnr == CONTEXT_LOGSNR
    counts = clean.sum(axis=1)
    assert set(np.unique(counts)) == {1, 2}
    assert not clean[:, 4].any()
    noisy_logsnr = ops.convert_to_numpy(out["logsnr"])
    for row in range(64):
        k = counts[row]
        np.testing.assert_array_equal(z[row, :k], video[row, :k])
        assert not np.allclose(z[row, k:4], video[row, k:4])
        np.testing.assert_allclose(logsnr[row, k:], noisy_logsnr[row])
    prediction = ops.convert_to_numpy(out["prediction"])
    goal = ops.convert_to_numpy(out["target"])
    # Context frames: no error; other frames: the network's prediction.
    for row in range(64):
        k = counts[row]
        np.testing.assert_array_equal(prediction[row, :k], goal[row, :k])
        np.testing.assert_array_equal(prediction[row, k:], 7.0)
    # Each video's loss is the mean over the frames it generates.
    weight = ops.convert_to_numpy(out["weight"])
    plain = VideoDiffusion(_Recorder(), prediction_type="x", seed=0)
    base = ops.convert_to_numpy(plain(video, training=False)["weight"])
    np.testing.assert_allclose(weight, base * 5 / (5 - counts), rtol=1e-6)


def test_context_settings_round_trip_and_validate():
    model = VideoDiffusion(_tiny_unet(), context_frames=2, context_rate=0.25)
    config = model.get_config()
    assert config["context_frames"] == 2 and config["context_rate"] == 0.25
    with pytest.raises(ValueError, match="context_rate=1.5"):
        VideoDiffusion(_tiny_unet(), context_frames=2, context_rate=1.5)
    with pytest.raises(ValueError, match="context_frames=-1"):
        VideoDiffusion(_tiny_unet(), context_frames=-1)


def _problem(prediction_type="v"):
    oracle = GaussianOracle(ar1_covariance(FRAMES), (FRAMES, 1, 1, 1), prediction_type)
    observed = np.array([0.5, -1.0])
    mean, covariance = oracle.conditional(np.eye(FRAMES)[:2], observed)
    context = np.zeros((1, FRAMES, 1, 1, 1), "float32")
    context[0, :2, 0, 0, 0] = observed
    return oracle, context, mean[2:], covariance[2:, 2:]


def test_per_frame_oracle_matches_the_gaussian_conditional():
    # The oracle used below: with two frames at log-SNR 20 its estimate of
    # the others is the exact conditional mean given those two frames.
    oracle, context, mean, _ = _problem("x")
    logsnr = np.array([[CONTEXT_LOGSNR] * 2 + [-30.0] * 4], "float32")
    x_hat = ops.convert_to_numpy(oracle(context, logsnr)).reshape(-1)
    np.testing.assert_allclose(x_hat[:2], [0.5, -1.0], atol=1e-3)
    np.testing.assert_allclose(x_hat[2:], mean, atol=1e-3)


@pytest.mark.backends
@pytest.mark.parametrize("name", ["ancestral", "ddim"])
def test_context_conditioning_samples_the_exact_conditional(name):
    oracle, context, mean, covariance = _problem()
    sampler = get_sampler(name, num_steps=100, conditioning="context", progress=False)
    samples = flatten_samples(sampler(oracle, (8000, FRAMES, 1, 1, 1), context=context[:, :2], seed=0))
    np.testing.assert_allclose(samples[:, :2], np.broadcast_to([0.5, -1.0], (8000, 2)), atol=1e-6)
    kl = empirical_kl(samples[:, 2:], mean, covariance)
    # Replacement, on the same problem, is far off (its network never sees
    # the known frames as such).
    replacement = get_sampler(name, num_steps=100, conditioning="replacement", progress=False)
    reference = flatten_samples(replacement(oracle, (8000, FRAMES, 1, 1, 1), context=context[:, :2], seed=0))
    kl_replacement = empirical_kl(reference[:, 2:], mean, covariance)
    print(f"{name}: KL context {kl:.4f}, replacement {kl_replacement:.4f}")
    # (At 100 steps the ancestral sampler's own discretization error is
    # about 0.009; it falls to 0.001 at 400 steps.)
    assert kl < 0.02
    assert kl < kl_replacement / 20


@pytest.mark.backends
def test_anchored_sampling_samples_the_data_distribution():
    oracle, *_ = _problem()
    samples = flatten_samples(
        sample(oracle, (8000, FRAMES, 1, 1, 1), sampler="ancestral", num_steps=100,
               anchor_frames=1, seed=1, progress=False)
    )
    kl = empirical_kl(samples, np.zeros(FRAMES), oracle.covariance)
    assert kl < 0.02
    # The second pass keeps the first pass's frame 0 exactly.
    sampler = get_sampler("ddim", num_steps=20, conditioning="context", progress=False)
    first = ops.convert_to_numpy(sampler(oracle, (16, FRAMES, 1, 1, 1), seed=4))
    both = ops.convert_to_numpy(anchored_sample(sampler, oracle, (16, FRAMES, 1, 1, 1), 2, seed=4))
    np.testing.assert_allclose(both[:, :2], first[:, :2], atol=1e-6)
    assert not np.allclose(both[:, 2:], first[:, 2:])


def test_anchor_frames_are_checked():
    oracle, context, *_ = _problem()
    with pytest.raises(ValueError, match="anchor_frames=6"):
        sample(oracle, (2, FRAMES, 1, 1, 1), num_steps=2, anchor_frames=6, progress=False)
    with pytest.raises(ValueError, match="anchor_frames=1 and context"):
        sample(oracle, (2, FRAMES, 1, 1, 1), num_steps=2, anchor_frames=1,
               context=context[:, :2], progress=False)


@pytest.mark.backends
def test_training_with_context_frames_runs_compiled():
    diffusion = VideoDiffusion(
        _tiny_unet(), prediction_type="v", context_frames=2, context_rate=0.5,
        num_image_frames=1, seed=0,
    )
    diffusion.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        jit_compile=keras.backend.backend() == "jax",
    )
    video = np.random.default_rng(0).uniform(-1, 1, (8, 4, 8, 8, 1)).astype("float32")
    diffusion(video[:4], training=False)  # builds the weights
    before = [ops.convert_to_numpy(v) for v in diffusion.trainable_variables]
    history = diffusion.fit(video, batch_size=4, epochs=2, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    after = [ops.convert_to_numpy(v) for v in diffusion.trainable_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
