import keras
import numpy as np
import pytest

from kvdm.diffusion import VideoDiffusion
from kvdm.training.ema import ema_weights
from kvdm.training.ema import keep_raw_weights_after_fit
from kvdm.training.ema import optimizer_averages
from kvdm.training.ema import swap_ema_weights


def _np(x):
    return keras.ops.convert_to_numpy(x)


class SmallDenoiser(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)

    def call(self, z_t, logsnr, condition=None, num_image_frames=0,
             training=None):
        return self.dense(z_t)


def _fitted(keep_raw):
    keras.utils.set_random_seed(0)
    model = VideoDiffusion(SmallDenoiser(), prediction_type="x", seed=0)
    model.compile(
        optimizer=keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.9)
    )
    if keep_raw:
        keep_raw_weights_after_fit(model.optimizer)
    video = np.random.default_rng(0).uniform(-1, 1, (2, 2, 3, 3, 1))
    model.fit(video.astype("float32"), batch_size=2, epochs=5, verbose=0)
    return model


def _state(model):
    raw = [_np(v) for v in model.trainable_variables]
    averages = [_np(a) for a in optimizer_averages(model.optimizer)]
    return raw, averages


@pytest.mark.backends
def test_fit_overwrites_weights_with_ema_unless_kept():
    # Keras' fit ends with optimizer.finalize_variable_values, which copies
    # the EMA into the model: afterwards weights == averages.
    raw, averages = _state(_fitted(keep_raw=False))
    for r, a in zip(raw, averages):
        np.testing.assert_array_equal(r, a)
    raw, averages = _state(_fitted(keep_raw=True))
    assert any(not np.allclose(r, a) for r, a in zip(raw, averages))


@pytest.mark.backends
def test_swap_and_context_manager_restore_raw_weights():
    model = _fitted(keep_raw=True)
    raw, averages = _state(model)
    with ema_weights(model):
        inside = [_np(v) for v in model.trainable_variables]
    for i, a in zip(inside, averages):
        np.testing.assert_array_equal(i, a)
    after_raw, after_avg = _state(model)
    for r, s in zip(raw + averages, after_raw + after_avg):
        np.testing.assert_array_equal(r, s)
    swap_ema_weights(model)
    swapped_raw, _ = _state(model)
    for r, a in zip(swapped_raw, averages):
        np.testing.assert_array_equal(r, a)


def test_errors_without_ema():
    model = VideoDiffusion(SmallDenoiser())
    model.compile(optimizer=keras.optimizers.Adam(0.1))
    with pytest.raises(ValueError, match="use_ema=True"):
        swap_ema_weights(model)
    model.compile(optimizer=keras.optimizers.Adam(0.1, use_ema=True))
    with pytest.raises(ValueError, match="not been built"):
        swap_ema_weights(model)


@pytest.mark.backends
def test_keras_keeps_the_averages_where_kvdm_reads_them():
    # kvdm reads Keras' private EMA storage in one function. If a Keras
    # upgrade moves or changes it, this test fails with a message that says
    # so (and where to fix it) instead of sampling with wrong weights.
    variable = keras.Variable(np.zeros((2,), "float32"))
    optimizer = keras.optimizers.SGD(1.0, use_ema=True, ema_momentum=0.5)
    assert optimizer_averages(optimizer) is None
    for gradient in (1.0, 2.0, 4.0):
        optimizer.apply_gradients(
            [(keras.ops.full((2,), gradient), variable)]
        )
    averages = optimizer_averages(optimizer)
    assert len(averages) == 1, (
        f"Keras {keras.version()} no longer keeps one EMA variable per "
        "trained variable; update kvdm.training.ema.optimizer_averages."
    )
    # Weights after each step: -1, -3, -7. The first step copies the
    # weight; later ones mix with momentum 0.5: -2, then -4.5.
    np.testing.assert_allclose(
        _np(averages[0]), [-4.5, -4.5],
        err_msg=(
            f"The EMA variables of Keras {keras.version()} no longer hold "
            "the moving average kvdm expects; update "
            "kvdm.training.ema.optimizer_averages."
        ),
    )


def test_missing_averages_fail_with_a_clear_message():
    optimizer = keras.optimizers.Adam(0.1, use_ema=True)
    optimizer.build([keras.Variable(np.zeros((2,), "float32"))])
    del optimizer._model_variables_moving_average
    with pytest.raises(RuntimeError, match="must be updated for this Keras"):
        optimizer_averages(optimizer)
    with pytest.raises(ValueError, match="use_ema=True"):
        optimizer_averages(keras.optimizers.Adam(0.1))
