"""The one place where kvdm branches on the Keras backend.

Everything else in kvdm is written with `keras.ops` and `keras.random`. The
only operation Keras 3 does not expose portably is a gradient with respect to
an input tensor (needed by reconstruction guidance, equations 7 and 8 of the
paper), so it lives here with one branch per backend.
"""

import keras


def backend_name():
    """Returns the name of the active Keras backend."""
    return keras.config.backend()


def value_and_grad(fn):
    """Returns `f(x, *args) -> (value, aux, dvalue/dx)` for a scalar-valued `fn`.

    `fn(x, *args)` must return a pair `(value, aux)` where `value` is a scalar
    tensor and `aux` is any tensor computed along the way (for example the
    denoiser's prediction, so that it needs no second forward pass). The
    gradient is taken with respect to the first argument only.

    Args:
        fn: callable. Built from `keras.ops`.

    Returns:
        A callable with the same arguments as `fn`, returning
        `(value, aux, grad)`.
    """
    backend = backend_name()
    if backend == "jax":
        import jax

        def wrapped(x, *args):
            (value, aux), grad = jax.value_and_grad(
                lambda x_: fn(x_, *args), has_aux=True
            )(x)
            return value, aux, grad

        return wrapped
    if backend == "tensorflow":
        import tensorflow as tf

        def wrapped(x, *args):
            x = tf.convert_to_tensor(x)
            with tf.GradientTape() as tape:
                tape.watch(x)
                value, aux = fn(x, *args)
            grad = tape.gradient(value, x)
            return value, aux, grad

        return wrapped
    if backend == "torch":
        import torch

        def wrapped(x, *args):
            with torch.enable_grad():
                x = torch.as_tensor(x).detach().requires_grad_(True)
                value, aux = fn(x, *args)
                (grad,) = torch.autograd.grad(value, x)
            return value.detach(), aux.detach(), grad.detach()

        return wrapped
    raise NotImplementedError(
        f"value_and_grad has no implementation for backend {backend!r}. "
        "Supported backends: 'tensorflow', 'jax', 'torch'."
    )


def jit(fn):
    """Compiles `fn` for the active backend.

    JAX: `jax.jit`. TensorFlow: `tf.function` (graph mode). PyTorch: `fn` runs
    eagerly without autograd tracking (gradients asked for inside it, as by
    `value_and_grad`, still work). Every tensor `fn` depends on must be an
    argument: values captured from outside are frozen at the first trace on
    JAX and TensorFlow.

    Args:
        fn: callable. Built from `keras.ops`.

    Returns:
        The compiled callable, with the same arguments as `fn`.
    """
    backend = backend_name()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, reduce_retracing=True)
    if backend == "torch":
        import functools

        import torch

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with torch.no_grad():
                return fn(*args, **kwargs)

        return wrapped
    raise NotImplementedError(
        f"jit has no implementation for backend {backend!r}. "
        "Supported backends: 'tensorflow', 'jax', 'torch'."
    )


def global_rng_state():
    """The backend's global random state, as a numpy array, or None.

    Keras draws from it where a `SeedGenerator` was created without a seed
    (e.g. dropout on PyTorch uses torch's global generator), so an exact
    resume must save and restore it. JAX and TensorFlow keep no such state
    outside Keras variables.
    """
    if backend_name() == "torch":
        import torch

        return torch.get_rng_state().numpy().copy()
    return None


def set_global_rng_state(state):
    """Restores a state returned by `global_rng_state` (None: no-op)."""
    if state is None or backend_name() != "torch":
        return
    import numpy as np
    import torch

    torch.set_rng_state(torch.from_numpy(np.asarray(state, dtype=np.uint8)))
