"""A shared check-list for kvdm layers: `run_layer_test`.

Typical use, one call per layer test:

```python
from layer_test_utils import run_layer_test

def test_layer_basics():
    run_layer_test(
        SpatialAttention,
        init_kwargs={"num_heads": 2, "groups": 4},
        input_shape=(2, 3, 4, 4, 8),
        expected_output_shape=(2, 3, 4, 4, 8),
    )

# A layer with several inputs: one shape (or array) per positional input.
run_layer_test(
    ResBlock,
    init_kwargs={"filters": 8, "groups": 4},
    input_shape=[(2, 3, 4, 4, 8), (2, 16)],  # call(inputs, embedding)
    expected_output_shape=(2, 3, 4, 4, 8),
)
```
"""

import inspect
import os
import tempfile

import keras
import numpy as np


def _as_list(value, is_single):
    return [value] if is_single else list(value)


def _is_array(value):
    return isinstance(value, np.ndarray) or (
        hasattr(value, "shape") and hasattr(value, "dtype")
    )


def _to_numpy(value):
    return np.asarray(
        keras.ops.convert_to_numpy(keras.ops.cast(value, "float32"))
    )


def _assert_shape(actual, expected, what):
    actual = tuple(actual)
    expected = tuple(expected)
    assert len(actual) == len(expected), (
        f"{what}: expected rank {len(expected)} shape {expected}, "
        f"got {actual}"
    )
    for a, e in zip(actual, expected):
        if a is None or e is None:
            continue
        assert a == e, f"{what}: expected shape {expected}, got {actual}"


def check_config_covers_init(layer_cls, config):
    """Asserts that `config` has a key for every `__init__` parameter."""
    signature = inspect.signature(layer_cls.__init__)
    missing = [
        name
        for name, parameter in signature.parameters.items()
        if name != "self"
        and parameter.kind
        not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and name not in config
    ]
    assert not missing, (
        f"{layer_cls.__name__}.get_config() misses __init__ arguments "
        f"{missing}"
    )


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape=None,
    input_data=None,
    call_kwargs=None,
    expected_output_shape=None,
    expected_output_dtype=None,
    expected_num_trainable_weights=None,
    run_training_check=True,
    run_mixed_precision_check=True,
    run_saving_check=True,
    atol=1e-5,
    seed=0,
):
    """Runs the standard checks on a kvdm layer and returns its eager output.

    Checks, in order:
    1. eager call on concrete data: output shape (and dtype), finite values;
    2. `get_config()` has a key for every `__init__` parameter; the layer
       serializes by registered name and `from_config` with the same weights
       gives the same output;
    3. symbolic call on `keras.Input`s and `compute_output_shape` agree with
       `expected_output_shape`; the functional model predicts the eager
       output;
    4. one `fit` step (mse loss) of that functional model changes at least one
       trainable weight and gives a finite loss;
    5. the model saved to a `.keras` file loads back with the same outputs;
    6. with `dtype="mixed_bfloat16"`: every variable is float32, the output
       has the expected compute dtype and no NaN/inf.
    Steps 3 to 5 need at least one array input and are skipped otherwise (for
    layers such as `RelativePositionBias` that take a python int).

    Args:
        layer_cls: the layer class.
        init_kwargs: dict. Constructor arguments.
        input_shape: shape tuple, or a list of shape tuples, one per
            positional input (e.g. `[(2, 3, 8, 8, 4), (2, 16)]` for
            `call(inputs, embedding)`); random normal float32 data is drawn.
        input_data: alternative to `input_shape`: an array (or python value),
            or a list of them, one per positional input.
        call_kwargs: dict. Keyword arguments of `call`. Array values (such
            as a mask) become extra model inputs; other values (such as
            `num_image_frames=2`) are passed as they are.
        expected_output_shape: tuple. Full shape of the output for the given
            data.
        expected_output_dtype: str or None. Output dtype in float32 mode;
            `None` means float32. Under mixed precision the expected dtype
            is `"bfloat16"` unless this is given.
        expected_num_trainable_weights: int or None. If set, the number of
            trainable weights is checked.
        run_training_check: bool. Whether to run step 4.
        run_mixed_precision_check: bool. Whether to run step 6.
        run_saving_check: bool. Whether to run step 5.
        atol: float. Tolerance of the output comparisons.
        seed: int. Seed of the data and the weights.

    Returns:
        The eager output of step 1 as a numpy array.
    """
    if (input_shape is None) == (input_data is None):
        raise ValueError(
            "Pass exactly one of `input_shape` and `input_data`. "
            f"Received: input_shape={input_shape}, "
            f"input_data type={type(input_data)}"
        )
    call_kwargs = dict(call_kwargs or {})
    rng = np.random.default_rng(seed)
    if input_shape is not None:
        single = all(isinstance(d, int) or d is None for d in input_shape)
        shapes = _as_list(input_shape, single)
        inputs = [rng.normal(size=s).astype("float32") for s in shapes]
    else:
        single = not isinstance(input_data, (list, tuple))
        inputs = _as_list(input_data, single)
    array_kwargs = {k: v for k, v in call_kwargs.items() if _is_array(v)}
    static_kwargs = {k: v for k, v in call_kwargs.items() if not _is_array(v)}
    has_array_inputs = all(_is_array(x) for x in inputs) and len(inputs) > 0
    expected_dtype = expected_output_dtype or "float32"

    # 1. Eager call.
    keras.utils.set_random_seed(seed)
    layer = layer_cls(**init_kwargs)
    output = layer(*inputs, **call_kwargs)
    if expected_output_shape is not None:
        _assert_shape(output.shape, expected_output_shape, "eager output")
    assert keras.backend.standardize_dtype(output.dtype) == expected_dtype, (
        f"eager output dtype {output.dtype}, expected {expected_dtype}"
    )
    eager = _to_numpy(output)
    assert np.all(np.isfinite(eager)), "eager output has NaN or inf"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights

    # 2. Config coverage and round trip.
    config = layer.get_config()
    check_config_covers_init(layer_cls, config)
    serialized = keras.saving.serialize_keras_object(layer)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is layer_cls, type(restored)
    restored(*inputs, **call_kwargs)
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        _to_numpy(restored(*inputs, **call_kwargs)),
        eager,
        atol=atol,
        err_msg="from_config with the same weights gives another output",
    )

    if has_array_inputs:
        # 3. Symbolic call and compute_output_shape.
        symbolic_inputs = [
            keras.Input(batch_shape=x.shape, dtype=str(x.dtype))
            for x in inputs
        ]
        symbolic_kwargs = {
            k: keras.Input(batch_shape=v.shape, dtype=str(v.dtype), name=k)
            for k, v in array_kwargs.items()
        }
        symbolic_output = layer(
            *symbolic_inputs, **symbolic_kwargs, **static_kwargs
        )
        if expected_output_shape is not None:
            _assert_shape(
                symbolic_output.shape, expected_output_shape, "symbolic output"
            )
            shapes = [tuple(x.shape) for x in inputs]
            kwarg_shapes = {
                f"{k}_shape": tuple(v.shape) for k, v in array_kwargs.items()
            }
            try:
                computed = layer.compute_output_shape(*shapes, **kwarg_shapes)
            except TypeError:
                computed = layer.compute_output_shape(*shapes)
            _assert_shape(
                computed, expected_output_shape, "compute_output_shape"
            )
        model = keras.Model(
            symbolic_inputs + list(symbolic_kwargs.values()), symbolic_output
        )
        model_inputs = list(inputs) + list(array_kwargs.values())
        batch_size = int(model_inputs[0].shape[0])
        predicted = _to_numpy(model.predict(model_inputs, verbose=0))
        np.testing.assert_allclose(
            predicted, eager, atol=atol,
            err_msg="functional model predicts another output than eager",
        )

        # 4. One fit step.
        if run_training_check:
            assert layer.trainable_weights, "layer has no trainable weights"
            before = [_to_numpy(w) for w in layer.trainable_weights]
            model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
            target = rng.normal(size=eager.shape).astype("float32")
            history = model.fit(
                model_inputs,
                target,
                batch_size=batch_size,
                epochs=1,
                verbose=0,
            )
            assert np.isfinite(history.history["loss"][0]), history.history
            after = [_to_numpy(w) for w in layer.trainable_weights]
            assert any(
                not np.array_equal(b, a) for b, a in zip(before, after)
            ), "one fit step changed no trainable weight"

        # 5. Save and load through a .keras file.
        if run_saving_check:
            expected = _to_numpy(model.predict(model_inputs, verbose=0))
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.keras")
                model.save(path)
                loaded = keras.saving.load_model(path)
            np.testing.assert_allclose(
                _to_numpy(loaded.predict(model_inputs, verbose=0)),
                expected,
                atol=atol,
                err_msg="the reloaded .keras model gives another output",
            )

    # 6. Mixed precision.
    if run_mixed_precision_check:
        mixed = layer_cls(**init_kwargs, dtype="mixed_bfloat16")
        mixed_output = mixed(*inputs, **call_kwargs)
        for variable in mixed.weights:
            assert keras.backend.standardize_dtype(variable.dtype) == (
                "float32"
            ), f"variable {variable.path} is {variable.dtype}, not float32"
        mixed_dtype = expected_output_dtype or "bfloat16"
        assert (
            keras.backend.standardize_dtype(mixed_output.dtype) == mixed_dtype
        ), f"mixed precision output is {mixed_output.dtype}, not {mixed_dtype}"
        assert np.all(np.isfinite(_to_numpy(mixed_output))), (
            "mixed precision output has NaN or inf"
        )
    return eager


def randomize_weights(model, scale=0.2, seed=0):
    """Sets every weight to `scale * N(0, 1)`.

    Zero-initialised output layers make a new block the identity; random
    weights let a test see how inputs reach outputs.
    """
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(scale * rng.normal(size=weight.shape).astype("float32"))
