"""Functions shared by the attention layers (no layer classes here)."""

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


def dot_product_attention(query, key, value, bias=None, mask=None):
    """Multi-head scaled dot-product attention with a float32 softmax.

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

    Returns:
        Tensor `(batch, query_length, num_heads, head_channels)` in the dtype
        of `value`.
    """
    head_channels = ops.shape(query)[-1]
    scale = 1.0 / float(head_channels) ** 0.5
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
