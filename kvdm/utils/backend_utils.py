"""The one place where kvdm branches on the Keras backend.

Everything else in kvdm is written with `keras.ops` and `keras.random`. The
operations Keras 3 does not expose portably live here, with one branch per
backend: a gradient with respect to an input tensor (needed by
reconstruction guidance, equations 7 and 8 of the paper), compilation, the
global random state, the position of a replica in multi-device training,
rematerialization of a layer that draws random numbers, and a backend's own
fused kernel where the portable composition of `keras.ops` is much slower
(group normalization and stride-1 convolutions on PyTorch).
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


def fused_frame_group_norm(inputs, groups, gamma, beta, epsilon):
    """Group normalization of every `(batch, frame)` by a fused kernel.

    The same result as the `keras.ops` composition in
    `kvdm.layers.FrameGroupNormalization`, in float32, where the backend has
    a kernel for it; `None` where it has not (the caller then composes it).

    PyTorch: `torch.nn.functional.group_norm` over the channels-last view of
    the frames (a permutation, no copy; its CPU kernel reads that layout
    directly). At the largest activation of `bench/train_step.py`'s shape M
    (32 frames of 64x64x128) the forward and backward pass take 72 ms
    against 520 ms for the composition, whose every elementwise step is a
    separate pass over memory in eager PyTorch.

    TensorFlow: the same composition with its own gradient
    (`tf.custom_gradient`), which keeps for the backward pass only the
    input, which the caller keeps anyway, and the per-group mean and
    inverse deviation, where TensorFlow's gradient of the composition keeps
    tensors of the input's size (centred, normalized, scaled). The same
    speed; at shape M with rematerialization, where every normalization of
    a recomputed stage holds them at once, the step's peak is about 100 MiB
    lower (`bench/train_step.py --shapes M --remat on`).

    Args:
        inputs: tensor `(batch, frames, ..., channels)`.
        groups: int. Channel groups; divides the channels.
        gamma: variable or tensor `(channels,)`, or None.
        beta: variable or tensor `(channels,)`, or None.
        epsilon: float. Added to the variance.

    Returns:
        A float32 tensor of the shape of `inputs`, or `None`.
    """
    backend = backend_name()
    if backend == "tensorflow":
        return _tf_frame_group_norm(inputs, groups, gamma, beta, epsilon)
    if backend != "torch":
        return None
    import torch

    shape = inputs.shape
    channels = shape[-1]
    frames = inputs.float().reshape(shape[0] * shape[1], -1, 1, channels)
    weight = None if gamma is None else torch.as_tensor(gamma).float()
    bias = None if beta is None else torch.as_tensor(beta).float()
    if weight is None and bias is not None:
        # torch 2.13's CPU kernel fails ("tensor does not have a device")
        # computing an offset's gradient without a scale.
        weight = torch.ones_like(bias)
    frames = frames.permute(0, 3, 1, 2)
    wants_weight_grads = any(
        p is not None and p.requires_grad for p in (weight, bias)
    )
    if torch.is_grad_enabled() and wants_weight_grads and (
        not frames.requires_grad
    ):
        # The channels-last backward of torch 2.13's CPU kernel crashes
        # when only the scale and offset need gradients; a contiguous copy
        # takes the channels-first kernel.
        frames = frames.contiguous()
    outputs = torch.nn.functional.group_norm(
        frames, groups, weight, bias, epsilon
    )
    return outputs.permute(0, 2, 3, 1).reshape(shape)


def _tf_frame_group_norm(inputs, groups, gamma, beta, epsilon):
    """TensorFlow's `fused_frame_group_norm`: little kept for the gradient."""
    import tensorflow as tf

    inputs = tf.convert_to_tensor(inputs)
    channels = inputs.shape[-1]
    # (batch x frames, positions, groups, channels per group).
    grouped_shape = tf.stack(
        [-1, tf.reduce_prod(tf.shape(inputs)[2:-1]), groups, channels // groups]
    )
    weights = [
        tf.cast(tf.convert_to_tensor(value), tf.float32)
        for value in (gamma, beta)
        if value is not None
    ]

    def grouped(x):
        return tf.reshape(tf.cast(x, tf.float32), grouped_shape)

    def per_channel(value):
        return tf.reshape(value, [groups, -1])

    @tf.custom_gradient
    def normalize(x, *weights):
        weights = list(weights)
        scale = weights.pop(0) if gamma is not None else None
        offset = weights.pop(0) if beta is not None else None
        x32 = grouped(x)
        mean, variance = tf.nn.moments(x32, axes=[1, 3], keepdims=True)
        inverse = tf.math.rsqrt(variance + epsilon)
        outputs = (x32 - mean) * inverse
        if scale is not None:
            outputs = outputs * per_channel(scale)
        if offset is not None:
            outputs = outputs + per_channel(offset)

        def backward(upstream):
            upstream = grouped(upstream)
            # Recomputed from the input rather than kept.
            normalized = (grouped(x) - mean) * inverse
            grads = []
            if scale is not None:
                grads.append(
                    tf.reshape(
                        tf.reduce_sum(upstream * normalized, axis=[0, 1]), [-1]
                    )
                )
            if offset is not None:
                grads.append(
                    tf.reshape(tf.reduce_sum(upstream, axis=[0, 1]), [-1])
                )
            if scale is not None:
                upstream = upstream * per_channel(scale)
            centred = upstream - tf.reduce_mean(
                upstream, axis=[1, 3], keepdims=True
            )
            projection = tf.reduce_mean(
                upstream * normalized, axis=[1, 3], keepdims=True
            )
            grad = (centred - normalized * projection) * inverse
            grad = tf.cast(tf.reshape(grad, tf.shape(x)), x.dtype)
            return (grad, *grads)

        return tf.reshape(outputs, tf.shape(x)), backward

    return normalize(inputs, *weights)


def channels_last_conv2d(images, kernel, padding):
    """A stride-1 2-D convolution of channels-last images, copy-free.

    The same result as `keras.ops.conv(images, kernel, padding=padding)`
    where the backend can do it without moving the images to another
    layout; `None` elsewhere (the caller then calls `keras.ops.conv`).

    PyTorch: `torch.nn.functional.conv2d` on the channels-last view of the
    images, whose oneDNN kernel reads that layout directly. `keras.ops.conv`
    copies the images into a new tensor on the way in and again on the
    way back, in both passes: at a 32x64x64x128 input of shape M of
    `bench/train_step.py` the forward and backward pass of a 3x3
    convolution take 336 ms this way against 409 ms.

    Args:
        images: tensor `(batch, height, width, in_channels)`.
        kernel: tensor `(kernel_height, kernel_width, in_channels,
            out_channels)`, both kernel sizes odd.
        padding: `"same"` or `"valid"`.

    Returns:
        A tensor `(batch, out_height, out_width, out_channels)`, or `None`.
    """
    if backend_name() != "torch":
        return None
    import torch

    height, width = kernel.shape[0], kernel.shape[1]
    if height % 2 == 0 or width % 2 == 0:
        return None
    pad = (height // 2, width // 2) if padding == "same" else 0
    # As keras.ops.conv reads them: a variable becomes its value (in the
    # compute dtype inside a layer's call under mixed precision).
    images = keras.ops.convert_to_tensor(images)
    kernel = keras.ops.convert_to_tensor(kernel)
    outputs = torch.nn.functional.conv2d(
        images.permute(0, 3, 1, 2), kernel.permute(3, 2, 0, 1), padding=pad
    )
    return outputs.permute(0, 2, 3, 1)


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


def replica_position():
    """`(index, count)` of the replica running this code in data-parallel
    training.

    Under `tf.distribute` every replica runs the train step on its own slice
    of the global batch: `index` is its position (a Python int or a scalar
    tensor) and `count` the number of replicas. Elsewhere, JAX's
    `keras.distribution` included, the code sees the whole batch: `(0, 1)`.
    """
    if backend_name() == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            return (
                context.replica_id_in_sync_group,
                context.num_replicas_in_sync,
            )
    return 0, 1


def per_example_draw(draw, shape):
    """`draw(shape)`, random values with one row per example of a batch.

    Under `tf.distribute` with several replicas, each of which sees
    `shape[0]` examples of the global batch, every replica calls
    `draw((shape[0] * replicas,) + shape[1:])` and keeps its own rows: the
    values are those of the global batch on one device, and no two replicas
    share them. Elsewhere this is `draw(shape)`.

    Args:
        draw: callable. `draw(shape)` returns a tensor of that shape, drawn
            from one seed (a `keras.random` function).
        shape: tuple. The shape for this replica's examples.

    Returns:
        A tensor of shape `shape`.
    """
    index, count = replica_position()
    if count == 1:
        return draw(shape)
    shape = tuple(shape)
    rows = draw((shape[0] * count,) + shape[1:])
    rows = keras.ops.reshape(rows, (count, shape[0]) + shape[1:])
    return keras.ops.take(rows, index, axis=0)


def data_parallel_scope():
    """Synchronous data-parallel training on every local device.

    JAX: `keras.distribution.DataParallel` over `keras.distribution.
    list_devices()`. TensorFlow: `tf.distribute.TPUStrategy` when a TPU is
    attached, else `tf.distribute.MirroredStrategy` over the logical GPUs, or
    the logical CPUs when there is no GPU. Create, compile and train the
    model inside the scope.

    Returns:
        `(scope, num_devices)`: a context manager and the number of devices
        (replicas) a global batch is split across.

    Raises:
        NotImplementedError: on PyTorch.
    """
    backend = backend_name()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        return distribution.scope(), len(devices)
    if backend == "tensorflow":
        import os

        import tensorflow as tf

        tpu = os.environ.get("TPU_NAME")
        if tpu or tf.config.list_physical_devices("TPU"):
            # A TPU VM's own chips, or the TPU named by `TPU_NAME`.
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=tpu or "local"
            )
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            strategy = tf.distribute.TPUStrategy(resolver)
        else:
            devices = tf.config.list_logical_devices("GPU")
            devices = devices or tf.config.list_logical_devices("CPU")
            strategy = tf.distribute.MirroredStrategy(
                devices=[device.name for device in devices]
            )
        return strategy.scope(), strategy.num_replicas_in_sync
    raise NotImplementedError(
        f"kvdm has no data-parallel training on backend {backend!r}. "
        "Supported backends: 'tensorflow', 'jax'."
    )


def rematerialized(function, layers, *inputs):
    """Calls `function(*inputs)`, recomputing it in the backward pass.

    Only the inputs are kept for the backward pass; every activation inside
    `function` is computed again from them when gradients are taken
    (`keras.remat`: `tf.recompute_grad`, `jax.checkpoint` or
    `torch.utils.checkpoint`). Gradients are those of the plain call.

    `layers` are the layers `function` calls. Their non-trainable variables
    (the states of the seed generators of their dropout) are set to their
    values before the call at the start of the rematerialized function,
    and leave it as outputs assigned after the call. The recomputation
    therefore draws exactly the random numbers of the first pass, which
    wrapping a layer's `call` in `keras.remat` or `keras.RematScope` does
    not ensure: TensorFlow and PyTorch would draw again from the advanced
    state, and on JAX the state update would leave the checkpointed
    function as a leaked tracer. (On PyTorch, a dropout without a seed
    draws from torch's global generator, whose state
    `torch.utils.checkpoint` restores for the recomputation.) Trainable
    variables are read inside, as in a plain call, so mixed precision casts
    them as usual.

    Args:
        function: callable. Takes the tensors `inputs`, returns a tensor;
            calls only built layers among `layers` that change state.
        layers: list of `keras.layers.Layer`. The layers `function` calls.
        *inputs: tensors, the arguments of `function`.

    Returns:
        The output of `function`, a tensor.
    """
    states = [
        variable for layer in layers for variable in layer.non_trainable_variables
    ]
    # Copies: the values before the call, not views of the variables that
    # the call changes. They stay out of the function's arguments, which
    # TensorFlow would watch for gradients (integers cannot have one).
    before = [keras.ops.copy(variable.value) for variable in states]

    def forward(*arguments):
        for variable, value in zip(states, before):
            variable.assign(value)
        outputs = function(*arguments)
        return (outputs, *[keras.ops.copy(v.value) for v in states])

    results = keras.remat(forward)(*inputs)
    for variable, value in zip(states, results[1:]):
        variable.assign(value)
    return results[0]
