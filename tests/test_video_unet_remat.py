"""`VideoUNet(remat=True)`: the same loss and gradients, recomputed blocks."""

import dataclasses
import os
import tempfile

import keras
import numpy as np
import pytest

from kvdm.config import RecipeError
from kvdm.config import Recipe
from kvdm.diffusion import VideoDiffusion
from kvdm.layers.res_block import ResBlock
from kvdm.models import VideoUNet
from kvdm.training import builders
from kvdm.utils import backend_utils

VIDEO_SHAPE = (2, 3, 8, 8, 3)
# One downsampling level, so that the skip connections, the middle block and
# every kind of block (residual, spatial, temporal, space-time) are used.
UNET = dict(
    base_channels=8, channel_multipliers=[1, 2], num_res_blocks=1,
    attention_resolutions=[8, 4], space_time_attention_resolutions=[4],
    head_dim=4, groups=4, num_mlp_layers=1, dropout=0.3,
)


def _diffusion(remat, num_image_frames=1):
    unet = VideoUNet(remat=remat, **UNET)
    return VideoDiffusion(
        unet, prediction_type="v", num_image_frames=num_image_frames,
        seed=3,
    )


def _pair():
    """A plain and a rematerialized model with identical variables.

    The weights are random everywhere (the zero-initialised output layers
    would otherwise leave most gradients zero); the seed generators of both
    start from the same states, so their dropout draws the same masks.
    """
    video = np.random.default_rng(0).uniform(-1, 1, VIDEO_SHAPE)
    video = video.astype("float32")
    plain, remat = _diffusion(False), _diffusion(True)
    plain(video, training=False)
    remat(video, training=False)
    rng = np.random.default_rng(1)
    for a, b in zip(plain.variables, remat.variables):
        assert a.shape == b.shape
        if "seed" in a.path:
            value = keras.ops.convert_to_numpy(a)
        else:
            value = rng.normal(size=a.shape).astype("float32") * 0.2
        a.assign(value)
        b.assign(value)
    return plain, remat, video


# One compiled gradient function per model on JAX (the video is fixed).
_JAX_GRADIENTS = {}


def _loss_and_gradients(model, video, rng_state=None):
    """The training loss of one batch and its gradients, all weights.

    `rng_state`: the global random state to start from (PyTorch's dropout
    draws from it when its seed generator has no seed).
    """
    backend_utils.set_global_rng_state(rng_state)
    backend = keras.config.backend()
    variables = model.trainable_variables

    def loss_of(y_pred):
        return model.compute_loss(y_pred=y_pred)

    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(model(video, training=True))
        gradients = tape.gradient(loss, [v.value for v in variables])
    elif backend == "torch":
        for v in variables:
            v.value.grad = None
        loss = loss_of(model(video, training=True))
        loss.backward()
        gradients = [v.value.grad for v in variables]
        loss = loss.detach()
    else:
        import jax

        if model not in _JAX_GRADIENTS:

            def pure(trainable, non_trainable):
                y_pred, states = model.stateless_call(
                    trainable, non_trainable, video, training=True
                )
                return loss_of(y_pred), states

            _JAX_GRADIENTS[model] = jax.jit(
                jax.value_and_grad(pure, has_aux=True)
            )
        (loss, states), gradients = _JAX_GRADIENTS[model](
            [v.value for v in variables],
            [v.value for v in model.non_trainable_variables],
        )
        for v, value in zip(model.non_trainable_variables, states):
            v.assign(value)
    return (
        float(keras.ops.convert_to_numpy(loss)),
        [keras.ops.convert_to_numpy(g) for g in gradients],
    )


def _seed_states(model):
    return [
        keras.ops.convert_to_numpy(v)
        for v in model.non_trainable_variables
        if "seed" in v.path
    ]


def _count_block_runs(function):
    """Runs `function()`; returns how often each `ResBlock.call` ran."""
    counts = {}
    original = ResBlock.call

    def counting_call(self, *args, **kwargs):
        counts[self.name] = counts.get(self.name, 0) + 1
        return original(self, *args, **kwargs)

    ResBlock.call = counting_call
    try:
        function()
    finally:
        ResBlock.call = original
    return counts


def _jaxpr_of_gradient(model, video):
    import jax

    non_trainable = [v.value for v in model.non_trainable_variables]

    def loss(trainable):
        y_pred, _ = model.stateless_call(
            trainable, non_trainable, video, training=True
        )
        return model.compute_loss(y_pred=y_pred)

    trainable = [v.value for v in model.trainable_variables]
    return str(jax.make_jaxpr(jax.grad(loss))(trainable))


@pytest.mark.backends
def test_remat_gives_the_gradients_of_the_plain_model():
    plain, remat, video = _pair()
    losses, block_runs = [], []
    # Two steps: the second one draws from the advanced seed states.
    for _ in range(2):
        results = {}
        rng_state = backend_utils.global_rng_state()
        counts = {
            model: _count_block_runs(
                lambda m=model: results.setdefault(
                    m, _loss_and_gradients(m, video, rng_state))
            )
            for model in (plain, remat)
        }
        loss, gradients = results[plain]
        remat_loss, remat_gradients = results[remat]
        np.testing.assert_allclose(remat_loss, loss, rtol=1e-6)
        assert len(gradients) == len(remat_gradients) == len(
            plain.trainable_variables
        )
        for v, g, r in zip(plain.trainable_variables, gradients,
                           remat_gradients):
            scale = float(np.max(np.abs(g)))
            assert scale > 0.0, v.path  # every weight gets a gradient
            np.testing.assert_allclose(
                r, g, rtol=1e-5, atol=1e-5 * scale, err_msg=v.path
            )
        for a, b in zip(_seed_states(plain), _seed_states(remat)):
            np.testing.assert_array_equal(a, b)
        losses.append(loss)
        block_runs.append(counts)
    # Dropout was active: its masks changed the loss between the steps.
    assert losses[0] != losses[1]
    # The 8 residual blocks ran again in the backward pass with remat
    # (TensorFlow and PyTorch run the Python code again; JAX traces it once
    # into a checkpointed computation).
    counts = block_runs[0]  # JAX traces the first step only
    assert len(counts[plain]) == 8, counts
    assert set(counts[plain].values()) == {1}, counts
    if keras.config.backend() == "jax":
        assert set(counts[remat].values()) == {1}, counts
        # `jax.checkpoint` shows in the jaxpr as a `remat` primitive.
        for model, expected in ((remat, True), (plain, False)):
            text = _jaxpr_of_gradient(model, video)
            assert ("remat" in text or "checkpoint" in text) == expected
    else:
        assert set(counts[remat].values()) == {2}, counts


@pytest.mark.backends
def test_remat_survives_save_and_load():
    model = VideoUNet(remat=True, **UNET)
    video = np.random.default_rng(0).normal(size=VIDEO_SHAPE)
    video = video.astype("float32")
    logsnr = np.array([-1.0, 4.0], "float32")
    expected = keras.ops.convert_to_numpy(model(video, logsnr))
    assert model.get_config()["remat"] is True
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "unet.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert loaded.remat is True
    out = keras.ops.convert_to_numpy(loaded(video, logsnr))
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # A model saved before `remat` existed loads with it off.
    config = model.get_config()
    del config["remat"]
    assert VideoUNet.from_config(config).remat is False


def test_remat_under_mixed_precision_matches():
    keras.config.set_dtype_policy("mixed_bfloat16")
    plain, remat, video = _pair()
    rng_state = backend_utils.global_rng_state()
    loss, gradients = _loss_and_gradients(plain, video, rng_state)
    remat_loss, remat_gradients = _loss_and_gradients(
        remat, video, rng_state
    )
    np.testing.assert_allclose(remat_loss, loss, rtol=1e-6)
    # Gradients flow in bfloat16, where the recomputed path sums some in
    # another order: most are equal, the others differ by bfloat16
    # roundings (2 ** -8 relative), summed over a few terms.
    for v, g, r in zip(plain.trainable_variables, gradients,
                       remat_gradients):
        assert r.dtype == g.dtype == np.float32
        error = np.linalg.norm(r - g) / np.linalg.norm(g)
        assert error < 5e-2, (v.path, error)
    flat = np.concatenate([g.ravel() for g in gradients])
    remat_flat = np.concatenate([r.ravel() for r in remat_gradients])
    error = np.linalg.norm(remat_flat - flat) / np.linalg.norm(flat)
    assert error < 4e-3, error


def test_recipe_switch():
    recipe = Recipe.from_dict({
        "data": {"name": "moving_digits", "num_frames": 4,
                 "image_size": 16},
        "model": {"preset": "tiny", "remat": True},
    })
    assert builders.build_denoiser(recipe, out_channels=1).remat is True
    off = dataclasses.replace(recipe, model=recipe.model.replace(remat=None))
    assert builders.build_denoiser(off, out_channels=1).remat is False
    with pytest.raises(RecipeError, match=r"model\.remat='yes'"):
        Recipe.from_dict({"model": {"preset": "tiny", "remat": "yes"}})
    with pytest.raises(ValueError, match="remat=1"):
        VideoUNet(remat=1, **UNET)


def test_stages_group_blocks_with_their_attention_and_upsampling():
    from kvdm.layers import SpatialDownsample, SpatialUpsample

    model = VideoUNet(**dict(UNET, num_res_blocks=2))
    model(np.zeros(VIDEO_SHAPE, "float32"), np.zeros(2, "float32"))
    down = VideoUNet._stages(model.down_layers)
    up = VideoUNet._stages(model.up_layers)
    # Down: one stage per residual block (with its attention), and the
    # downsampling alone; every stage's output is one skip.
    # (8x8: spatial and temporal attention; 4x4: space-time attention.)
    assert [len(s) for s in down] == [3, 3, 1, 2, 2], down
    assert isinstance(down[2][0], SpatialDownsample)
    # Up: one residual block per stage (it takes one skip); the upsampling
    # begins the stage of the block after it.
    assert [len(s) for s in up] == [2, 2, 2, 4, 3, 3], up
    for stage in up:
        assert sum(isinstance(layer, ResBlock) for layer in stage) == 1
    assert isinstance(up[3][0], SpatialUpsample)
    assert isinstance(up[3][1], ResBlock)
    assert sum(len(s) for s in up) == len(model.up_layers)
    assert [layer for s in up for layer in s] == list(model.up_layers)
