"""Functions shared by the attention layers (no layer classes here)."""

import keras
from keras import ops

# Added to the logits of masked-out keys. Large enough that exp() underflows
# to exactly zero in float32, so a masked key has exactly no influence.
MASK_VALUE = -1e9


def resolve_num_heads(channels, num_heads, head_dim, layer_name):
    """Returns `(num_heads, head_channels)` for `channels` input channels.

    `num_heads=None` means `max(1, channels // head_dim)` heads. The channels
    must split evenly into the heads.
    """
    if num_heads is None:
        num_heads = max(1, channels // head_dim)
    if channels % num_heads != 0:
        raise ValueError(
            f"{layer_name} splits the {channels} input channels into "
            f"{num_heads} heads, but {channels} is not divisible by "
            f"{num_heads}. Pass `num_heads` (or `head_dim`) dividing the "
            f"channels. Received: num_heads={num_heads}"
        )
    return num_heads, channels // num_heads


def resolve_groups(channels, groups, layer_name):
    """Returns the GroupNorm group count for `channels` channels.

    At most `channels` groups are used, so narrow test models work with the
    default of 32 groups; the channels must split evenly into the groups.
    """
    groups = min(groups, channels)
    if channels % groups != 0:
        raise ValueError(
            f"{layer_name} normalises {channels} channels in groups, but "
            f"{channels} is not divisible by {groups}. "
            f"Received: groups={groups}"
        )
    return groups


def dot_product_attention(
    query, key, value, bias=None, mask=None, query_chunk_size=None
):
    """Multi-head scaled dot-product attention with a float32 softmax.

    On PyTorch it runs through the fused kernel of
    `torch.nn.functional.scaled_dot_product_attention` (its CPU flash kernel
    keeps the softmax sums in float32 for bfloat16 inputs; the bias is
    rounded to the dtype of the queries there). On JAX the heads are moved
    next to the batch first, so that both products are plain batched matrix
    products (see `_jax_attention`).

    Args:
        query: tensor `(batch, query_length, num_heads, head_channels)`.
        key: tensor `(batch, key_length, num_heads, head_channels)`.
        value: tensor `(batch, key_length, num_heads, head_channels)`.
        bias: optional tensor broadcastable to
            `(batch, num_heads, query_length, key_length)`, added to the
            logits in float32.
        mask: optional boolean tensor broadcastable to
            `(batch, num_heads, query_length, key_length)`; `False` entries
            get zero attention weight. Every query must keep at least one key.
        query_chunk_size: int or None. When set and the queries are more
            (TensorFlow and JAX), they are taken in chunks of this many,
            each rematerialized: only one chunk's logits and softmax exist
            at a time, in the forward pass and in the backward pass, which
            recomputes them. The result and its gradients are unchanged.
            Defaults to None (all queries at once).

    Returns:
        Tensor `(batch, query_length, num_heads, head_channels)` in the dtype
        of `value`.
    """
    head_channels = ops.shape(query)[-1]
    scale = 1.0 / float(head_channels) ** 0.5
    if keras.backend.backend() == "torch" and query.dtype == value.dtype:
        # The fused kernel never holds all the logits: no chunks needed.
        return _torch_attention(query, key, value, bias, mask, scale)
    length = query.shape[1]
    if query_chunk_size is not None and length is not None and (
        length > query_chunk_size
    ):
        return _chunked_attention(
            query, key, value, bias, mask, scale, query_chunk_size
        )
    return _attention(query, key, value, bias, mask, scale)


def _query_slice(tensor, start, stop):
    """Rows `start:stop` of a bias or mask's query axis (if it has one)."""
    if tensor is None or tensor.shape[-2] == 1:
        return tensor
    return tensor[..., start:stop, :]


def _chunked_attention(query, key, value, bias, mask, scale, chunk):
    """`_attention` over query chunks, each recomputed in the backward pass."""
    outputs = []
    length = query.shape[1]
    for start in range(0, length, chunk):
        stop = min(start + chunk, length)
        chunk_bias = _query_slice(bias, start, stop)
        chunk_mask = _query_slice(mask, start, stop)

        def attend(chunk_query, key, value, chunk_bias=chunk_bias,
                   chunk_mask=chunk_mask):
            return _attention(
                chunk_query, key, value, chunk_bias, chunk_mask, scale
            )

        outputs.append(
            keras.remat(attend)(query[:, start:stop], key, value)
        )
    return ops.concatenate(outputs, axis=1)


def _attention(query, key, value, bias, mask, scale):
    """Attention with the logits and the softmax in float32."""
    if keras.backend.backend() == "jax":
        return _jax_attention(query, key, value, bias, mask, scale)
    query = ops.multiply(query, ops.cast(scale, query.dtype))
    logits = ops.einsum("bqhd,bkhd->bhqk", query, key)
    logits = ops.cast(logits, "float32")
    if bias is not None:
        logits = ops.add(logits, ops.cast(bias, "float32"))
    if mask is not None:
        logits = ops.where(mask, logits, MASK_VALUE)
    weights = ops.softmax(logits, axis=-1)
    weights = ops.cast(weights, value.dtype)
    return ops.einsum("bhqk,bkhd->bqhd", weights, value)


def _jax_attention(query, key, value, bias, mask, scale):
    """`_attention` as batched matrix products of `(batch * heads, ...)`.

    XLA's CPU code for the two `einsum`s of `_attention` copies the logits
    between layouts in the forward and backward passes; with the heads
    moved next to the batch beforehand (a copy of the small query, key and
    value tensors), both products are plain batched matrix products whose
    gradients are too. Same maths, float32 logits and softmax.
    """
    import jax.numpy as jnp

    batch, length, heads, _ = query.shape
    key_length = key.shape[1]
    value_channels = value.shape[-1]

    def heads_first(tensor, rows):
        tensor = jnp.transpose(tensor, (0, 2, 1, 3))
        return jnp.reshape(tensor, (-1, rows, tensor.shape[-1]))

    def per_head(tensor):
        # (batch, heads, length, key_length) rows of one head after another.
        tensor = jnp.broadcast_to(tensor, (batch, heads, length, key_length))
        return jnp.reshape(tensor, (-1, length, key_length))

    query = heads_first(query * jnp.asarray(scale, query.dtype), length)
    key = heads_first(key, key_length)
    value_dtype = value.dtype
    value = heads_first(value, key_length)
    logits = jnp.matmul(query, jnp.swapaxes(key, 1, 2)).astype("float32")
    if bias is not None:
        logits = logits + per_head(jnp.asarray(bias, "float32"))
    if mask is not None:
        logits = jnp.where(per_head(jnp.asarray(mask)), logits, MASK_VALUE)
    weights = ops.softmax(logits, axis=-1).astype(value_dtype)
    outputs = jnp.reshape(
        jnp.matmul(weights, value), (-1, heads, length, value_channels)
    )
    return jnp.transpose(outputs, (0, 2, 1, 3))


def _torch_attention(query, key, value, bias, mask, scale):
    """`dot_product_attention` through PyTorch's fused kernel.

    `torch.nn.functional.scaled_dot_product_attention` never materialises
    the logits, their float32 copy and the softmax as separate tensors, and
    keeps its softmax sums in float32 for bfloat16 inputs; with the einsum
    path above its batched products and softmax took over half of a PyTorch
    train step at the benchmark's S shape. The bias (and the mask, as
    `MASK_VALUE` added to it) is passed in the dtype of the queries, as the
    kernel requires.
    """
    import torch

    query, key, value = (
        torch.transpose(tensor, 1, 2) for tensor in (query, key, value)
    )
    additive = None
    if bias is not None:
        additive = ops.cast(bias, "float32")
    if mask is not None:
        masked = ops.where(mask, 0.0, MASK_VALUE)
        additive = masked if additive is None else additive + masked
    if additive is not None:
        additive = additive.to(query.dtype)
    outputs = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=additive, scale=scale
    )
    return torch.transpose(outputs, 1, 2)
