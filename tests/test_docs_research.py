"""The subclassing example of docs/research/custom-blocks.md, in the default pass.

tests/test_docs.py runs the whole page (training included) in the slow pass;
here the page's layer and network classes are taken as they are written
there and checked quickly: the factories of `VideoUNet` put the new blocks
everywhere, a saved model reloads with the same outputs, and the new blocks
start as the identity change they claim to be.
"""

import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "scripts"))

import doc_blocks  # noqa: E402

PAGE = ROOT / "docs" / "research" / "custom-blocks.md"
TINY = dict(base_channels=8, channel_multipliers=[1, 2], num_res_blocks=1,
            attention_resolutions=[8], head_dim=4, groups=4)


@pytest.fixture(scope="module")
def page():
    """The page's class definitions (every Python block before the training)."""
    namespace = {"__name__": "__docs__"}
    for block in doc_blocks.page_blocks(PAGE):
        if block.lang != "python":
            continue
        if "diffusion.fit(" in block.source:
            break
        if "unet.save(" in block.source:
            continue  # writes a file; checked below in a temporary folder
        exec(compile(block.code, block.where, "exec"), namespace)
    return namespace


def test_factories_build_the_new_blocks_everywhere(page):
    from kvdm.layers import ResBlock
    from kvdm.layers import TemporalAttention

    unet = page["ResearchUNet"](**TINY)
    unet(np.zeros((1, 4, 16, 16, 1), "float32"), np.zeros((1,), "float32"))
    layers = unet.down_layers + unet.middle_layers + unet.up_layers
    res_blocks = [l for l in layers if isinstance(l, ResBlock)]
    temporal = [l for l in layers if isinstance(l, TemporalAttention)]
    assert res_blocks and temporal
    assert all(type(l).__name__ == "TemporalMixResBlock" for l in res_blocks)
    assert all(type(l).__name__ == "LinearBiasTemporalAttention" for l in temporal)
    baseline = page["ResearchUNet"](linear_bias=False, temporal_mix=False, **TINY)
    baseline(np.zeros((1, 4, 16, 16, 1), "float32"), np.zeros((1,), "float32"))
    names = {type(l).__name__ for l in baseline.down_layers + baseline.middle_layers + baseline.up_layers}
    assert "ResBlock" in names and "TemporalAttention" in names
    assert not names & {"TemporalMixResBlock", "LinearBiasTemporalAttention"}


def test_saved_subclass_reloads_with_the_same_outputs(page, tmp_path):
    import keras
    from keras import ops

    unet = page["ResearchUNet"](temporal_mix=True, linear_bias=True, **TINY)
    rng = np.random.default_rng(0)
    video = rng.normal(size=(2, 4, 16, 16, 1)).astype("float32")
    logsnr = np.array([-1.0, 3.0], "float32")
    unet(video, logsnr)
    # Move the zero-initialised weights so the comparison means something.
    for weight in unet.weights:
        weight.assign(weight + 0.01 * rng.normal(size=weight.shape).astype("float32"))
    before = ops.convert_to_numpy(unet(video, logsnr))
    unet.save(tmp_path / "research.keras")
    reloaded = keras.saving.load_model(tmp_path / "research.keras")
    assert type(reloaded).__name__ == "ResearchUNet"
    assert reloaded.get_config() == unet.get_config()
    np.testing.assert_allclose(ops.convert_to_numpy(reloaded(video, logsnr)), before, atol=1e-6)


def test_new_blocks_start_where_the_baseline_does(page):
    """Zero-initialised extras: same outputs as the baseline with the same weights."""
    from keras import ops

    video = np.random.default_rng(1).normal(size=(1, 4, 16, 16, 1)).astype("float32")
    logsnr = np.array([0.5], "float32")
    mixed = page["ResearchUNet"](linear_bias=False, temporal_mix=True, **TINY)
    plain = page["ResearchUNet"](linear_bias=False, temporal_mix=False, **TINY)
    mixed(video, logsnr)
    plain(video, logsnr)
    extra = {id(w) for layer in mixed._flatten_layers() if layer.name == "temporal_conv" for w in layer.weights}
    plain_weights = iter(plain.weights)
    for weight in mixed.weights:
        if id(weight) not in extra:
            weight.assign(next(plain_weights))
    np.testing.assert_allclose(ops.convert_to_numpy(mixed(video, logsnr)),
                               ops.convert_to_numpy(plain(video, logsnr)), atol=1e-6)


def test_linear_bias_is_minus_slope_times_distance(page):
    from keras import ops

    bias = ops.convert_to_numpy(page["LinearDistanceBias"](num_heads=4)(num_frames=3))
    slopes = 2.0 ** (-8.0 * np.arange(1, 5) / 4)
    distance = np.abs(np.arange(3)[None, :] - np.arange(3)[:, None])
    np.testing.assert_allclose(bias, -slopes[:, None, None] * distance[None], rtol=1e-6)
