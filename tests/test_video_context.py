import keras
import numpy as np
import pytest
from layer_test_utils import randomize_weights
from layer_test_utils import run_layer_test

from kvdm.layers import VideoContext
from kvdm.metrics import frame_coupling
from kvdm.models import VideoUNet


def _numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


def _random_layer(embedding_dim=6):
    # A non-zero last layer, so that the output depends on the inputs.
    return VideoContext(embedding_dim, output_kernel_initializer="glorot_uniform")


@pytest.mark.backends
def test_layer_basics():
    run_layer_test(
        VideoContext,
        init_kwargs={"embedding_dim": 6, "num_mlp_layers": 3},
        input_shape=(2, 4, 3, 3, 5),
        expected_output_shape=(2, 4, 6),
        expected_num_trainable_weights=6,
    )


def test_starts_at_zero():
    video = np.random.default_rng(0).normal(size=(2, 3, 4, 4, 5))
    np.testing.assert_array_equal(_numpy(VideoContext(7)(video)), 0.0)


@pytest.mark.backends
def test_every_video_frame_gets_the_summary_of_all_video_frames():
    rng = np.random.default_rng(1)
    video = rng.normal(size=(2, 5, 3, 3, 4)).astype("float32")
    layer = _random_layer()
    out = _numpy(layer(video))
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1], out.shape), atol=1e-6)
    # The summary is the mean over space and frames: frame order and
    # positions inside a frame do not change it; the other example does not.
    shuffled = video[:, ::-1, ::-1]
    np.testing.assert_allclose(_numpy(layer(shuffled)), out, atol=1e-5)
    changed = video.copy()
    changed[1, 3] += 1.0
    moved = _numpy(layer(changed))
    np.testing.assert_allclose(moved[0], out[0], atol=1e-6)
    assert np.abs(moved[1, 0] - out[1, 0]).max() > 1e-3


@pytest.mark.backends
def test_image_frames_are_summarised_alone():
    rng = np.random.default_rng(2)
    video = rng.normal(size=(2, 6, 3, 3, 4)).astype("float32")
    layer = _random_layer()
    out = _numpy(layer(video, num_image_frames=2))
    # The video frames' summary ignores the image frames ...
    np.testing.assert_allclose(out[:, :4], _numpy(layer(video[:, :4]))[:, :4], atol=1e-5)
    # ... and each image frame's is its own, as a one-frame video.
    for frame in (4, 5):
        alone = _numpy(layer(video[:, frame : frame + 1]))
        np.testing.assert_allclose(out[:, frame], alone[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="num_image_frames"):
        layer(video, num_image_frames=7)


def _unet(**kwargs):
    return VideoUNet(
        base_channels=8, channel_multipliers=[1, 2], num_res_blocks=1,
        attention_resolutions=[], head_dim=8, groups=4, **kwargs,
    )


@pytest.mark.backends
def test_unet_image_frames_stay_independent_with_context():
    rng = np.random.default_rng(3)
    video = rng.normal(size=(1, 5, 8, 8, 1)).astype("float32")
    logsnr = np.zeros((1,), "float32")
    unet = _unet(video_context=True)
    unet(video, logsnr, num_image_frames=2)
    randomize_weights(unet)
    out = _numpy(unet(video, logsnr, num_image_frames=2))
    changed = video.copy()
    changed[:, 4] += 1.0  # an image frame
    moved = _numpy(unet(changed, logsnr, num_image_frames=2))
    np.testing.assert_allclose(moved[:, :4], out[:, :4], atol=1e-5)
    changed = video.copy()
    changed[:, 0] += 1.0  # a video frame: reaches the other video frames
    moved = _numpy(unet(changed, logsnr, num_image_frames=2))
    np.testing.assert_allclose(moved[:, 4:], out[:, 4:], atol=1e-5)
    assert np.abs(moved[:, 1:4] - out[:, 1:4]).max() > 1e-4


def test_unet_context_round_trips(tmp_path):
    video = np.random.default_rng(4).normal(size=(1, 3, 8, 8, 1)).astype("float32")
    logsnr = np.ones((1,), "float32")
    unet = _unet(video_context=True)
    unet(video, logsnr)
    randomize_weights(unet)
    assert unet.get_config()["video_context"] is True
    path = str(tmp_path / "unet.keras")
    unet.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_numpy(loaded(video, logsnr)), _numpy(unet(video, logsnr)), atol=1e-5)
    with pytest.raises(ValueError, match="video_context"):
        _unet(video_context="yes")


class _FrameDenoiser:
    """`x` prediction of a denoiser with a known frame coupling."""

    prediction_type = "x"

    def __init__(self, mix):
        self.mix = mix

    def denoise(self, z, logsnr):
        del logsnr
        z = np.asarray(z)
        # (1 - mix) * own frame + mix * mean of all frames.
        return (1 - self.mix) * z + self.mix * z.mean(axis=1, keepdims=True)


def test_frame_coupling_of_known_denoisers():
    videos = np.random.default_rng(5).uniform(-1, 1, size=(3, 4, 6, 6, 1))
    np.testing.assert_allclose(frame_coupling(_FrameDenoiser(0.0), videos, -4.0), 0.0, atol=1e-7)
    # Full averaging: every frame moves as much as frame 0.
    np.testing.assert_allclose(frame_coupling(_FrameDenoiser(1.0), videos, -4.0), 1.0, rtol=1e-5)
    # Half and half, 4 frames: frame 0 moves by (1/2 + 1/8), the others by 1/8.
    np.testing.assert_allclose(frame_coupling(_FrameDenoiser(0.5), videos, 0.0), 0.2, rtol=1e-5)
    with pytest.raises(ValueError, match="videos"):
        frame_coupling(_FrameDenoiser(0.5), videos[:, :1], 0.0)


def test_trained_run_couples_video_frames_only(trained_run):
    """The probe on a trained model: video frames respond to frame 0, and
    a frame given as an appended image does not."""
    from kvdm.training import load_for_sampling

    loaded = load_for_sampling(str(trained_run.folder))
    frames, height, width, channels = loaded.video_shape
    videos = np.random.default_rng(6).uniform(-1, 1, (2, frames, height, width, channels))
    coupling = frame_coupling(loaded.model, videos, -4.0)
    assert coupling.shape == (frames - 1,)
    assert np.all(np.isfinite(coupling)) and coupling.min() > 1e-4

    class AsImages:
        """The same network with every frame after the first an image."""

        prediction_type = loaded.model.prediction_type

        def denoise(self, z, logsnr):
            z = keras.ops.convert_to_tensor(z)
            logsnr = keras.ops.convert_to_tensor(logsnr)
            return loaded.model.denoiser(
                z, logsnr, num_image_frames=frames - 1, training=False
            )

    np.testing.assert_allclose(frame_coupling(AsImages(), videos, -4.0), 0.0, atol=1e-6)
