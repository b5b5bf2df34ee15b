"""Exponential moving average (EMA) weights kept by the optimizer.

kvdm trains with the optimizer's own EMA, e.g.
`keras.optimizers.Adam(learning_rate, use_ema=True, ema_momentum=0.9999)`
(the paper's EMA decays are in appendix A). The optimizer keeps one average
per trainable variable; the model variables keep the raw weights.

Beware: at the end of every `Model.fit` call (with `epochs > 0`), Keras calls
`optimizer.finalize_variable_values(model.trainable_weights)`, which, when
`use_ema=True`, overwrites the model's raw weights with their averages, on
TensorFlow, JAX and PyTorch alike. After `fit` returns, the model therefore
holds the EMA weights and the raw weights are gone. A trainer that calls
`fit` more than once on the same model (resuming, or fitting in chunks) would
restart each chunk from the EMA weights. Call `keep_raw_weights_after_fit`
on the optimizer once after `compile` to turn that overwrite off, and use
`ema_weights` / `swap_ema_weights` to sample with the EMA weights.

Keras keeps the averages in a private attribute of the optimizer; only
`optimizer_averages` reads it, and `tests/test_ema.py` checks that it still
holds the averages, so that a Keras upgrade that moves them fails there.

Example:

```python
diffusion.compile(optimizer=keras.optimizers.Adam(2e-4, use_ema=True))
keep_raw_weights_after_fit(diffusion.optimizer)
diffusion.fit(dataset, epochs=1, steps_per_epoch=100)  # raw weights kept
with ema_weights(diffusion):
    video = sampler(diffusion.denoise, ...)  # EMA weights
# raw weights are back here
```
"""

import contextlib

import keras
from keras import ops

# Where `keras.optimizers.Optimizer.build` stores the averages (Keras 3).
_AVERAGES_ATTRIBUTE = "_model_variables_moving_average"


def optimizer_averages(optimizer):
    """The optimizer's EMA variables, one per variable it was built for.

    The only place kvdm reads Keras' private EMA storage. Entries are None
    for variables that have no average.

    Args:
        optimizer: a `keras.optimizers.Optimizer` created with
            `use_ema=True`.

    Returns:
        A list of variables, or None while the optimizer is not built.

    Raises:
        ValueError: if the optimizer was created without `use_ema=True`.
        RuntimeError: if the built optimizer keeps no averages where kvdm
            expects them (Keras changed its internals).
    """
    if not getattr(optimizer, "use_ema", False):
        raise ValueError(
            "The optimizer keeps no EMA weights: create it with "
            f"`use_ema=True`. Received: optimizer={optimizer!r}"
        )
    if not optimizer.built:
        return None
    averages = getattr(optimizer, _AVERAGES_ATTRIBUTE, None)
    if not isinstance(averages, (list, tuple)):
        raise RuntimeError(
            f"Keras {keras.version()} keeps no list of EMA variables in "
            f"`optimizer.{_AVERAGES_ATTRIBUTE}`; kvdm reads the averages "
            "there (`kvdm.training.ema.optimizer_averages`) and must be "
            "updated for this Keras version. "
            f"Received: optimizer.{_AVERAGES_ATTRIBUTE}={averages!r}"
        )
    return list(averages)


def _ema_pairs(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        raise ValueError(
            "The model has no optimizer with EMA. Compile it with an "
            "optimizer created with `use_ema=True`. "
            f"Received: optimizer={optimizer!r}"
        )
    averages = optimizer_averages(optimizer)
    if averages is None:
        raise ValueError(
            "The optimizer has not been built yet, so it holds no EMA "
            "weights. Train at least one step (or call "
            "`optimizer.build(model.trainable_variables)`) first. "
            f"Received: optimizer.built={optimizer.built}"
        )
    variables = model.trainable_variables
    if len(variables) != len(averages):
        raise ValueError(
            "The optimizer's EMA variables do not match the model's "
            f"trainable variables. Received: {len(averages)} averages for "
            f"{len(variables)} trainable variables"
        )
    return [(v, a) for v, a in zip(variables, averages) if a is not None]


def swap_ema_weights(model):
    """Exchanges the model's weights with the optimizer's EMA weights.

    Calling it twice restores the original state exactly, so no weights are
    lost: the first call puts the EMA weights into the model (and the raw
    weights into the optimizer's average slots), the second one undoes it.
    Do not train between the two calls.

    Args:
        model: a compiled `keras.Model` whose optimizer has `use_ema=True`
            and has been built (trained for at least one step).
    """
    for variable, average in _ema_pairs(model):
        raw = ops.copy(variable.value)
        variable.assign(average.value)
        average.assign(raw)


@contextlib.contextmanager
def ema_weights(model):
    """Context manager: the model holds its EMA weights inside the block."""
    swap_ema_weights(model)
    try:
        yield model
    finally:
        swap_ema_weights(model)


def _skip_finalize(var_list):
    del var_list


def keep_raw_weights_after_fit(optimizer):
    """Stops `Model.fit` from overwriting the raw weights with the EMA ones.

    Replaces `optimizer.finalize_variable_values` on this optimizer instance
    with a no-op. The EMA is still updated at every step and saved with the
    optimizer's variables; get it with `ema_weights`.

    Args:
        optimizer: a `keras.optimizers.Optimizer`.

    Returns:
        The same optimizer.
    """
    optimizer.finalize_variable_values = _skip_finalize
    return optimizer
