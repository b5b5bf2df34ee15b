import keras
import numpy as np
import pytest
from layer_test_utils import randomize_weights
from layer_test_utils import run_layer_test

from kvdm.layers import ResBlock
from kvdm.layers import temporal_shift
from kvdm.models import VideoUNet


def _numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


def _expected_shift(video, k, num_image_frames):
    frames = video.shape[1]
    last_video = frames - num_image_frames - 1
    out = video.copy()
    out[..., : 2 * k] = 0.0
    for t in range(frames):
        if 1 <= t <= last_video:
            out[:, t, ..., :k] = video[:, t - 1, ..., :k]
        if t < last_video:
            out[:, t, ..., k : 2 * k] = video[:, t + 1, ..., k : 2 * k]
    return out


@pytest.mark.backends
@pytest.mark.parametrize("num_image_frames", [0, 2])
def test_shift_moves_channels_by_one_frame(num_image_frames):
    video = np.random.default_rng(0).normal(size=(2, 6, 3, 2, 8)).astype("float32")
    out = _numpy(temporal_shift(video, 0.5, num_image_frames=num_image_frames))
    np.testing.assert_array_equal(out, _expected_shift(video, 2, num_image_frames))


def test_shift_arguments():
    video = np.zeros((1, 3, 2, 2, 8), "float32")
    # At least one channel each way, at most half of them.
    out = _numpy(temporal_shift(video + 1.0, 0.01))
    np.testing.assert_array_equal(out[:, 0, ..., 0], 0.0)
    np.testing.assert_array_equal(out[:, 0, ..., 2:], 1.0)
    for fraction in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction"):
            temporal_shift(video, fraction)
    with pytest.raises(ValueError, match="channels"):
        temporal_shift(video[..., :1], 0.5)


@pytest.mark.backends
def test_res_block_with_shift():
    run_layer_test(
        ResBlock,
        init_kwargs={"filters": 8, "groups": 4, "temporal_shift": 0.5},
        input_shape=[(2, 3, 4, 4, 8), (2, 16)],
        expected_output_shape=(2, 3, 4, 4, 8),
    )
    with pytest.raises(ValueError, match="temporal_shift"):
        ResBlock(8, temporal_shift=2.0)


@pytest.mark.backends
def test_unet_shift_mixes_video_frames_only():
    rng = np.random.default_rng(1)
    video = rng.normal(size=(1, 5, 8, 8, 1)).astype("float32")
    logsnr = np.zeros((1,), "float32")
    unet = VideoUNet(
        base_channels=8, channel_multipliers=[1, 2], num_res_blocks=1,
        attention_resolutions=[], head_dim=8, groups=4, temporal_shift=0.5,
    )
    unet(video, logsnr, num_image_frames=2)
    randomize_weights(unet)
    out = _numpy(unet(video, logsnr, num_image_frames=2))
    changed = video.copy()
    changed[:, 2] += 1.0  # the last video frame
    moved = _numpy(unet(changed, logsnr, num_image_frames=2))
    np.testing.assert_allclose(moved[:, 3:], out[:, 3:], atol=1e-5)
    assert np.abs(moved[:, 1] - out[:, 1]).max() > 1e-4
    # Each image frame is computed as a one-frame video.
    alone = _numpy(unet(video[:, 4:5], logsnr))
    np.testing.assert_allclose(out[:, 4], alone[:, 0], atol=1e-4)
    assert unet.get_config()["temporal_shift"] == 0.5
    with pytest.raises(ValueError, match="temporal_shift"):
        VideoUNet(temporal_shift=True)
