import os
import tempfile

import keras
import numpy as np
import pytest
from layer_test_utils import check_config_covers_init

from kvdm.models import VIDEO_UNET_PRESETS
from kvdm.models import VideoUNet

VIDEO_SHAPE = (2, 4, 16, 16, 3)


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float32")))


def _inputs(shape=VIDEO_SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    video = rng.normal(size=shape).astype("float32")
    logsnr = rng.uniform(-10.0, 10.0, size=(shape[0],)).astype("float32")
    return video, logsnr


def _randomize(model, seed=0):
    """Random weights everywhere (the zero-initialised output layers would
    otherwise make the whole output zero)."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.weights:
        shape = tuple(w.shape)
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
        weights.append(
            (rng.normal(size=shape) / np.sqrt(fan_in)).astype("float32")
        )
    model.set_weights(weights)


def _random_tiny(seed=0, video_shape=VIDEO_SHAPE, condition=None, **overrides):
    model = VideoUNet.from_preset("tiny", **overrides)
    video, logsnr = _inputs(video_shape)
    model(video, logsnr, condition=condition)
    _randomize(model, seed)
    return model


@pytest.mark.backends
def test_output_shape_for_several_frame_counts():
    model = _random_tiny()
    for frames in (4, 6):
        video, logsnr = _inputs((2, frames, 16, 16, 3))
        out = model(video, logsnr)
        assert tuple(out.shape) == (2, frames, 16, 16, 3)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert np.all(np.isfinite(_numpy(out)))
    assert np.abs(_numpy(out)).max() > 1e-3


def test_out_channels_and_zero_initial_output():
    model = VideoUNet.from_preset("tiny", out_channels=6)
    video, logsnr = _inputs()
    out = _numpy(model(video, logsnr))
    assert out.shape == (2, 4, 16, 16, 6)
    # The output convolution starts at zero.
    np.testing.assert_array_equal(out, 0.0)


def _frame_diff(model, video, logsnr, frame, num_image_frames, seed=1):
    rng = np.random.default_rng(seed)
    base = _numpy(model(video, logsnr, num_image_frames=num_image_frames))
    changed = video.copy()
    changed[:, frame] += rng.normal(size=changed[:, frame].shape).astype(
        "float32"
    )
    out = _numpy(model(changed, logsnr, num_image_frames=num_image_frames))
    return np.abs(out - base).max(axis=(0, 2, 3, 4))


@pytest.mark.parametrize(
    "placement",
    [
        pytest.param({}, marks=pytest.mark.backends),
        {"temporal_attention_resolutions": [16, 8]},
        {"space_time_attention_resolutions": [8]},
    ],
)
def test_image_frames_are_independent(placement):
    # Frames 0..3 are a video, frames 4 and 5 are independent images.
    model = _random_tiny(**placement)
    video, logsnr = _inputs((2, 6, 16, 16, 3))
    diff = _frame_diff(model, video, logsnr, frame=4, num_image_frames=2)
    assert diff[4] > 1e-3, diff
    np.testing.assert_allclose(diff[[0, 1, 2, 3, 5]], 0.0, atol=1e-5)
    diff = _frame_diff(model, video, logsnr, frame=1, num_image_frames=2)
    assert diff[[0, 1, 2, 3]].min() > 1e-4, diff  # video frames do interact
    np.testing.assert_allclose(diff[[4, 5]], 0.0, atol=1e-5)
    # Without image frames every frame sees the change.
    diff = _frame_diff(model, video, logsnr, frame=4, num_image_frames=0)
    assert diff.min() > 1e-4, diff


def test_single_frame_is_an_image_model():
    model = _random_tiny()
    video, logsnr = _inputs((2, 1, 16, 16, 3))
    out = _numpy(model(video, logsnr))
    assert out.shape == (2, 1, 16, 16, 3) and np.all(np.isfinite(out))
    # One frame alone gives the same result as that frame marked as an
    # image inside a longer clip.
    clip, _ = _inputs((2, 3, 16, 16, 3), seed=5)
    clip[:, 2] = video[:, 0]
    in_clip = _numpy(model(clip, logsnr, num_image_frames=1))
    np.testing.assert_allclose(in_clip[:, 2], out[:, 0], atol=1e-5)


@pytest.mark.backends
def test_save_and_load_give_identical_outputs():
    rng = np.random.default_rng(0)
    condition = rng.normal(size=(2, 3, 16)).astype("float32")
    condition[1] = 0.0
    model = _random_tiny(condition=condition, condition_dim=16)
    video, logsnr = _inputs()
    expected = _numpy(model(video, logsnr, condition, num_image_frames=1))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "unet.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded) is VideoUNet
    out = _numpy(loaded(video, logsnr, condition, num_image_frames=1))
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.backends
def test_conditioning():
    rng = np.random.default_rng(0)
    condition = rng.normal(size=(2, 16)).astype("float32")
    model = _random_tiny(condition=condition, condition_dim=16)
    video, logsnr = _inputs()
    conditional = _numpy(model(video, logsnr, condition))
    null = _numpy(model(video, logsnr, np.zeros_like(condition)))
    missing = _numpy(model(video, logsnr))
    assert np.abs(conditional - null).max() > 1e-3
    # No condition is the same as the all-zero (null) condition.
    np.testing.assert_allclose(missing, null, atol=1e-5)
    # Rows are independent: zeroing row 1 leaves row 0 alone.
    mixed = condition.copy()
    mixed[1] = 0.0
    out = _numpy(model(video, logsnr, mixed))
    np.testing.assert_allclose(out[0], conditional[0], atol=1e-5)
    np.testing.assert_allclose(out[1], null[1], atol=1e-5)


@pytest.mark.backends
def test_mixed_bfloat16_forward_is_finite_float32():
    model = VideoUNet.from_preset("tiny", dtype="mixed_bfloat16")
    video, logsnr = _inputs()
    model(video, logsnr)
    _randomize(model)
    assert all(
        keras.backend.standardize_dtype(w.dtype) == "float32"
        for w in model.weights
    )
    out = model(video, logsnr, num_image_frames=1)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    out = _numpy(out)
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-3


def test_attention_placement_follows_build_resolution():
    def attention_names(model):
        return sorted(
            layer.name
            for layer in model.down_layers + model.middle_layers
            if "attention" in layer.name
        )

    at_16 = VideoUNet.from_preset("tiny")
    at_16.build((1, 2, 16, 16, 3), (1,))
    assert attention_names(at_16) == [
        "down_1_0_spatial_attention",
        "down_1_0_temporal_attention",
        "middle_spatial_attention",
        "middle_temporal_attention",
    ]
    # At 32x32 the levels are 32 and 16: attention only in the middle.
    at_32 = VideoUNet.from_preset("tiny")
    at_32.build((1, 2, 32, 32, 3), (1,))
    assert attention_names(at_32) == [
        "middle_spatial_attention",
        "middle_temporal_attention",
    ]


def test_temporal_and_space_time_attention_placement():
    def attention_names(model):
        return [
            layer.name
            for layer in model.down_layers + model.middle_layers
            if "attention" in layer.name
        ]

    # tiny has levels 16 and 8 at 16x16, attention at 8.
    everywhere = VideoUNet.from_preset(
        "tiny", temporal_attention_resolutions=[16, 8]
    )
    everywhere.build((1, 2, 16, 16, 3), (1,))
    assert attention_names(everywhere) == [
        "down_0_0_temporal_attention",
        "down_1_0_spatial_attention",
        "down_1_0_temporal_attention",
        "middle_spatial_attention",
        "middle_temporal_attention",
    ]
    joint = VideoUNet.from_preset("tiny", space_time_attention_resolutions=[8])
    joint.build((1, 2, 16, 16, 3), (1,))
    assert attention_names(joint) == [
        "down_1_0_space_time_attention",
        "middle_space_time_attention",
    ]
    restored = VideoUNet.from_config(joint.get_config())
    assert restored.space_time_attention_resolutions == [8]
    with pytest.raises(ValueError, match="space_time_attention_resolutions"):
        VideoUNet.from_preset("tiny", space_time_attention_resolutions=[0])


def test_bad_inputs_give_clear_errors():
    model = VideoUNet.from_preset("small")
    with pytest.raises(ValueError, match=r"divisible by 4.*video_shape"):
        model.build((1, 2, 18, 16, 3), (1,))
    tiny = VideoUNet.from_preset("tiny")
    with pytest.raises(ValueError, match="divisible by 2"):
        tiny(*_inputs((1, 2, 15, 16, 3)))
    tiny = _random_tiny()
    with pytest.raises(ValueError, match=r"divisible by 2.*video.shape"):
        tiny(*_inputs((1, 2, 16, 14 + 1, 3)))
    with pytest.raises(ValueError, match="num_image_frames"):
        tiny(*_inputs(), num_image_frames=5)
    with pytest.raises(ValueError, match="unconditional"):
        tiny(*_inputs(), condition=np.ones((2, 16), "float32"))
    conditional = VideoUNet.from_preset("tiny", condition_dim=16)
    with pytest.raises(ValueError, match="condition_dim=16"):
        conditional(*_inputs(), condition=np.ones((2, 8), "float32"))
    with pytest.raises(ValueError, match="channel_multipliers"):
        VideoUNet(channel_multipliers="1,2")
    with pytest.raises(ValueError, match="base_channels"):
        VideoUNet(base_channels=0)


def test_presets():
    with pytest.raises(ValueError, match="tiny, small, ucf101"):
        VideoUNet.from_preset("huge")
    assert set(VideoUNet.presets()) == {
        "tiny", "small", "ucf101", "bair", "kinetics600",
        "t2v_small", "t2v_large", "t2v_large_128",
    }
    for name, preset in VIDEO_UNET_PRESETS.items():
        model = VideoUNet.from_preset(name)
        config = model.get_config()
        check_config_covers_init(VideoUNet, config)
        for key, value in preset.items():
            assert config[key] == value, (name, key)
    # Overrides win, and the preset data is not modified.
    model = VideoUNet.from_preset("bair", base_channels=64, dropout=0.0)
    assert model.base_channels == 64 and model.dropout == 0.0
    assert VIDEO_UNET_PRESETS["bair"]["base_channels"] == 128
    model.channel_multipliers.append(99)
    assert VIDEO_UNET_PRESETS["bair"]["channel_multipliers"] == [1, 2, 3, 4]
    # Paper columns of appendix A.
    t2v = VIDEO_UNET_PRESETS["t2v_large_128"]
    assert t2v["channel_multipliers"] == [1, 2, 4, 8, 16]
    assert t2v["head_dim"] == 128 and t2v["condition_dim"] == 1024
    assert VIDEO_UNET_PRESETS["ucf101"].get("condition_dim") is None


def test_config_round_trip():
    model = VideoUNet.from_preset("tiny", condition_dim=16, out_channels=5)
    restored = VideoUNet.from_config(model.get_config())
    assert restored.get_config() == model.get_config()


def _stack(video):
    """(B, T, H, W, C) -> (B, 1, H, W, T * C), frame-major channels."""
    batch, frames, height, width, channels = video.shape
    stacked = np.transpose(video, (0, 2, 3, 1, 4))
    return stacked.reshape(batch, 1, height, width, frames * channels)


@pytest.mark.backends
def test_frames_as_channels_is_one_image_network_over_stacked_frames():
    video, logsnr = _inputs((2, 4, 16, 16, 3))
    stacked = _random_tiny(video_shape=video.shape, frames_as_channels=True)
    assert not any("temporal" in w.path for w in stacked.weights)
    # The same network on the stacked frames, as a one-frame video of
    # 12 channels: its extra middle temporal attention starts as the
    # identity, every other weight is copied by name.
    image = VideoUNet.from_preset("tiny")
    image(_stack(video), logsnr)
    def inner(weight):  # the path below the model's own name
        return weight.path.split("/", 1)[1]

    values = {inner(w): _numpy(w) for w in stacked.weights}
    for weight in image.weights:
        if inner(weight) in values:
            weight.assign(values.pop(inner(weight)))
        else:
            assert "temporal" in weight.path, weight.path
    assert not values
    expected = _numpy(image(_stack(video), logsnr))
    out = _numpy(stacked(video, logsnr))
    assert out.shape == video.shape
    np.testing.assert_allclose(_stack(out), expected, atol=1e-5)
    assert np.abs(out).max() > 1e-3
    # Every frame sees a change to any frame.
    diff = _frame_diff(stacked, video, logsnr, frame=2, num_image_frames=0)
    assert diff.min() > 1e-4, diff


def test_frames_as_channels_checks_and_round_trip():
    video, logsnr = _inputs((2, 4, 16, 16, 3))
    model = _random_tiny(video_shape=video.shape, frames_as_channels=True)
    # One log-SNR per frame: the frames' embeddings are averaged.
    per_frame = _numpy(model(video, np.stack([logsnr] * 4, axis=1)))
    np.testing.assert_allclose(per_frame, _numpy(model(video, logsnr)),
                               atol=1e-5)
    with pytest.raises(ValueError, match=r"exactly the 4 frames.*video.shape"):
        model(*_inputs((2, 6, 16, 16, 3)))
    with pytest.raises(ValueError, match="num_image_frames=1"):
        model(video, logsnr, num_image_frames=1)
    with pytest.raises(ValueError, match="frames_as_channels="):
        VideoUNet(frames_as_channels="yes")
    with pytest.raises(ValueError, match="number of frames"):
        VideoUNet.from_preset("tiny", frames_as_channels=True).build(
            (1, None, 16, 16, 3), (1,)
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "unet.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert loaded.frames_as_channels
    np.testing.assert_allclose(
        _numpy(loaded(video, logsnr)), _numpy(model(video, logsnr)), atol=1e-6
    )
