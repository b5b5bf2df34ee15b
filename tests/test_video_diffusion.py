import keras
import numpy as np
import pytest
from keras import ops

from kvdm.diffusion import losses
from kvdm.diffusion.video_diffusion import VideoDiffusion

SHAPE = (2, 3, 4, 4, 1)  # (batch, frames, height, width, channels)


def _np(x):
    return ops.convert_to_numpy(x)


@keras.saving.register_keras_serializable(package="kvdm_test")
class TinyDenoiser(keras.Model):
    """A denoiser with VideoUNet's call signature: a learned per-pixel template
    plus a pointwise function of `z_t`, the log-SNR and the condition."""

    def __init__(self, frames, height, width, channels, **kwargs):
        super().__init__(**kwargs)
        self.frames = frames
        self.height = height
        self.width = width
        self.channels = channels
        self.template = self.add_weight(
            shape=(frames, height, width, channels), initializer="zeros",
            name="template",
        )
        self.mix = keras.layers.Dense(channels, name="mix")
        self.time = keras.layers.Dense(channels, name="time")
        self.cond = keras.layers.Dense(channels, name="cond")

    def build(self, z_t_shape, logsnr_shape, condition_shape=None):
        self.mix.build(z_t_shape)
        self.time.build((None, 1))
        if condition_shape is not None:
            self.cond.build((None, condition_shape[-1]))

    def call(self, z_t, logsnr, condition=None, num_image_frames=0,
             training=None):
        h = self.mix(z_t)
        t = self.time(ops.expand_dims(ops.cast(logsnr, z_t.dtype) / 20.0, -1))
        h = h + ops.reshape(t, (-1, 1, 1, 1, self.channels))
        if condition is not None:
            if len(condition.shape) == 3:
                condition = ops.mean(condition, axis=1)
            c = self.cond(condition)
            h = h + ops.reshape(c, (-1, 1, 1, 1, self.channels))
        return h + ops.cast(self.template, h.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            frames=self.frames, height=self.height, width=self.width,
            channels=self.channels,
        )
        return config


class ProbeDenoiser(keras.Model):
    """Returns `scale * z_t + num_image_frames + sum(condition)` per example."""

    def __init__(self, scale=0.5, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, z_t, logsnr, condition=None, num_image_frames=0,
             training=None):
        out = self.scale * z_t + float(num_image_frames)
        if condition is not None:
            c = ops.sum(ops.reshape(condition, (ops.shape(condition)[0], -1)), -1)
            out = out + ops.reshape(ops.cast(c, out.dtype), (-1, 1, 1, 1, 1))
        return out


def _video(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


def _tiny(num_image_frames=0, shape=SHAPE, **kwargs):
    denoiser = TinyDenoiser(
        shape[1] + num_image_frames, *shape[2:], name="tiny_denoiser"
    )
    return VideoDiffusion(denoiser, num_image_frames=num_image_frames, **kwargs)


@pytest.mark.backends
@pytest.mark.parametrize("loss_weighting", [None, "v", "min_snr"])
def test_loss_matches_numpy_recomputation(loss_weighting):
    x = _video()
    model = VideoDiffusion(
        ProbeDenoiser(0.5), prediction_type="eps",
        loss_weighting=loss_weighting, seed=3,
    )
    out = model(x, training=False)
    logsnr = _np(out["logsnr"]).astype("float64")
    eps = _np(out["target"]).astype("float64")
    assert np.all((logsnr >= -20.01) & (logsnr <= 20.01))
    alpha = np.sqrt(1 / (1 + np.exp(-logsnr))).reshape(-1, 1, 1, 1, 1)
    sigma = np.sqrt(1 / (1 + np.exp(logsnr))).reshape(-1, 1, 1, 1, 1)
    z = alpha * x + sigma * eps
    np.testing.assert_allclose(_np(out["prediction"]), 0.5 * z, atol=1e-5)
    snr = np.exp(logsnr)
    weight = {
        None: np.ones_like(snr),
        "v": (1 + snr) / snr,
        "min_snr": np.minimum(snr, 5.0) / snr,
    }[loss_weighting]
    mse = ((0.5 * z - eps) ** 2).reshape(len(x), -1).mean(-1)
    expected = np.mean(weight * mse)
    loss = model.compute_loss(y_pred=out)
    np.testing.assert_allclose(float(_np(loss)), expected, rtol=1e-4)
    # Evaluation draws are fixed, so evaluate() reports the same number.
    model.compile(optimizer="adam")
    evaluated = model.evaluate(x, batch_size=len(x), verbose=0, return_dict=True)
    np.testing.assert_allclose(evaluated["loss"], expected, rtol=1e-4)


@pytest.mark.backends
def test_training_draws_change_and_eval_draws_are_fixed():
    x = _video()
    model = VideoDiffusion(ProbeDenoiser(), seed=1)
    a, b = model(x, training=True), model(x, training=True)
    assert not np.allclose(_np(a["logsnr"]), _np(b["logsnr"]))
    c, d = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(_np(c["target"]), _np(d["target"]))


@pytest.mark.backends
def test_image_frames_come_from_other_videos():
    batch, frames, n = 4, 5, 3
    # Every frame holds its own id 10 * video + frame.
    ids = (10 * np.arange(batch)[:, None] + np.arange(frames)[None, :])
    video = np.broadcast_to(
        ids[:, :, None, None, None], (batch, frames, 2, 2, 1)
    ).astype("float32")
    model = VideoDiffusion(
        ProbeDenoiser(), prediction_type="x", num_image_frames=n, seed=0
    )
    for training in (True, False):
        out = model({"video": video}, training=training)
        x = _np(out["target"])  # the x target is the noised data itself
        assert x.shape == (batch, frames + n, 2, 2, 1)
        np.testing.assert_array_equal(x[:, :frames], video)
        appended = x[:, frames:, 0, 0, 0]
        assert np.all(x[:, frames:] == appended[:, :, None, None, None])
        source, frame = appended // 10, appended % 10
        assert np.all(source != np.arange(batch)[:, None])
        assert np.all((frame >= 0) & (frame < frames))
        # The denoiser was told how many trailing frames are images.
        z = _np(out["prediction"]) - float(n)
        assert np.all(np.isfinite(z))


@pytest.mark.backends
def test_num_image_frames_reaches_the_denoiser():
    model = VideoDiffusion(
        ProbeDenoiser(scale=0.0), prediction_type="x", num_image_frames=2
    )
    out = model(_video(), training=True)
    np.testing.assert_allclose(_np(out["prediction"]), 2.0)
    assert out["prediction"].shape[1] == SHAPE[1] + 2


@pytest.mark.backends
def test_condition_dropout_zeroes_rows_at_the_rate():
    batch, rate = 2000, 0.3
    condition = np.ones((batch, 3, 2), "float32")  # a token sequence
    video = np.zeros((batch, 1, 1, 1, 1), "float32")
    model = VideoDiffusion(
        ProbeDenoiser(scale=0.0), prediction_type="x",
        condition_dropout=rate, seed=5,
    )
    out = model({"video": video, "condition": condition}, training=True)
    kept = _np(out["prediction"])[:, 0, 0, 0, 0]
    assert set(np.unique(kept)) <= {0.0, 6.0}  # whole rows dropped or kept
    dropped = np.mean(kept == 0.0)
    assert abs(dropped - rate) < 0.05, dropped
    # No dropout outside training.
    out = model({"video": video, "condition": condition}, training=False)
    np.testing.assert_allclose(_np(out["prediction"]), 6.0)


@pytest.mark.backends
def test_tiny_model_overfits_fixed_batch():
    keras.utils.set_random_seed(0)
    video = np.repeat(_video((1,) + SHAPE[1:]), 2, axis=0)
    condition = np.ones((2, 4), "float32")
    model = _tiny(num_image_frames=1, prediction_type="x", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    inputs = {"video": video, "condition": condition}
    before = model.evaluate(inputs, batch_size=2, verbose=0, return_dict=True)
    model.fit(inputs, batch_size=2, epochs=60, verbose=0)
    after = model.evaluate(inputs, batch_size=2, verbose=0, return_dict=True)
    assert after["loss"] < before["loss"] / 10, (before, after)


@pytest.mark.backends
def test_fit_on_tf_data_of_dicts():
    import tensorflow as tf

    data = {"video": _video((4,) + SHAPE[1:]), "condition": np.ones((4, 4), "float32")}
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(2)
    model = _tiny(num_image_frames=1, prediction_type="v", seed=0,
                  condition_dropout=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    videos_only = tf.data.Dataset.from_tensor_slices(data["video"]).batch(2)
    model = _tiny(prediction_type="eps", seed=0, loss_weighting="snr")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(videos_only, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.backends
def test_mixed_bfloat16_keeps_sensitive_maths_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = _tiny(num_image_frames=1, prediction_type="v", seed=0)
    assert model.dtype_policy.name == "float32"
    assert model.denoiser.dtype_policy.name == "mixed_bfloat16"
    video = _video()
    out = model({"video": video}, training=True)
    for key in ("prediction", "target", "weight", "logsnr"):
        assert keras.backend.standardize_dtype(out[key].dtype) == "float32", key
    z = _video((2, 4, 4, 4, 1))
    denoised = model.denoise(z, np.zeros((2,), "float32"))
    assert keras.backend.standardize_dtype(denoised.dtype) == "float32"
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(video, batch_size=2, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.backends
def test_keras_file_round_trip(tmp_path):
    model = _tiny(
        num_image_frames=1, prediction_type="v", loss_weighting="truncated_snr",
        condition_dropout=0.1, seed=7,
    )
    video = _video()
    condition = np.ones((2, 4), "float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit({"video": video, "condition": condition}, batch_size=2,
              epochs=2, verbose=0)
    path = str(tmp_path / "diffusion.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, VideoDiffusion)
    config, restored_config = model.get_config(), restored.get_config()
    assert restored_config["denoiser"]["config"] == config["denoiser"]["config"]
    for key in ("denoiser", "name"):
        config.pop(key), restored_config.pop(key)
    assert restored_config == config
    z = _video((2, 4, 4, 4, 1), seed=9)
    logsnr = np.array([-2.0, 3.0], "float32")
    np.testing.assert_allclose(
        _np(restored.denoise(z, logsnr, condition)),
        _np(model.denoise(z, logsnr, condition)), atol=1e-6,
    )
    a = model({"video": video, "condition": condition}, training=False)
    b = restored({"video": video, "condition": condition}, training=False)
    np.testing.assert_allclose(_np(a["prediction"]), _np(b["prediction"]), atol=1e-6)


def test_get_config_covers_every_init_argument():
    import inspect

    model = _tiny(seed=1)
    params = set(inspect.signature(VideoDiffusion.__init__).parameters)
    params -= {"self", "kwargs"}
    assert params <= set(model.get_config())
    clone = VideoDiffusion.from_config(model.get_config())
    assert clone.prediction_type == model.prediction_type
    assert clone.schedule.get_config() == model.schedule.get_config()


def test_denoise_accepts_scalar_logsnr():
    model = VideoDiffusion(ProbeDenoiser(0.5), prediction_type="v")
    z = _video()
    np.testing.assert_allclose(_np(model.denoise(z, 1.0)), 0.5 * z, atol=1e-6)
    assert model.prediction_type == "v" and model.denoiser is not None


def test_loss_weightings_are_consistent_across_parameterizations():
    # A named weighting gives the same data-space objective for every target.
    logsnr = np.linspace(-10, 10, 9).astype("float32")
    snr = np.exp(logsnr.astype("float64"))
    for name in ("snr", "v", "truncated_snr", "min_snr", "x"):
        data_space = _np(losses.get_loss_weighting(name)(logsnr))
        for prediction_type in ("eps", "v", "x"):
            factor = {"eps": snr, "v": 1 + snr, "x": np.ones_like(snr)}[prediction_type]
            weight = _np(losses.loss_weight(logsnr, prediction_type, name))
            np.testing.assert_allclose(weight * factor, data_space, rtol=1e-5)
    np.testing.assert_allclose(_np(losses.loss_weight(logsnr, "v", None)), 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prediction_type": "score"}, "prediction_type='score'"),
        ({"num_image_frames": -1}, "num_image_frames=-1"),
        ({"condition_dropout": 1.0}, "condition_dropout=1.0"),
        ({"loss_weighting": "p2"}, "loss_weighting='p2'"),
        ({"seed": 1.5}, "seed=1.5"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VideoDiffusion(ProbeDenoiser(), **kwargs)


def test_bad_inputs_and_outputs_raise():
    model = VideoDiffusion(ProbeDenoiser())
    with pytest.raises(ValueError, match="Received: keys=\\['frames'\\]"):
        model({"frames": _video()})
    with pytest.raises(ValueError, match="y_pred"):
        model.compute_loss(y_pred=ops.zeros((2,)))


def test_with_video_unet_tiny(tmp_path):
    # Not in the `backends` set: eager op-by-op JAX takes minutes here.
    from kvdm.models import VideoUNet

    unet = VideoUNet.from_preset("tiny", condition_dim=6)
    model = VideoDiffusion(
        unet, prediction_type="v", num_image_frames=1, condition_dropout=0.5,
        seed=0,
    )
    data = {
        "video": _video((2, 2, 8, 8, 3)),
        "condition": np.ones((2, 6), "float32"),
    }
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    logs = model.train_on_batch(data, return_dict=True)
    assert np.isfinite(logs["loss"])
    path = str(tmp_path / "unet_diffusion.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    z = _video((2, 2, 8, 8, 3), seed=4)
    logsnr = np.array([-1.0, 2.0], "float32")
    null = np.zeros((2, 6), "float32")
    np.testing.assert_allclose(
        _np(restored.denoise(z, logsnr, null)),
        _np(model.denoise(z, logsnr, null)), atol=1e-5,
    )


@pytest.mark.backends
def test_given_image_frames_are_appended_as_they_are():
    batch, frames, n = 3, 4, 2
    video = np.zeros((batch, frames, 2, 2, 1), "float32")
    images = np.arange(batch * n, dtype="float32").reshape(batch, n, 1, 1, 1)
    images = np.broadcast_to(images, (batch, n, 2, 2, 1)) + 1.0
    model = VideoDiffusion(
        ProbeDenoiser(), prediction_type="x", num_image_frames=n, seed=0
    )
    out = model({"video": video, "images": images}, training=True)
    x = _np(out["target"])
    np.testing.assert_array_equal(x[:, :frames], video)
    np.testing.assert_array_equal(x[:, frames:], images)
    with pytest.raises(ValueError, match=r"images.shape=\(3, 1, 2, 2, 1\)"):
        model({"video": video, "images": images[:, :1]}, training=True)
