"""Small text encoders for tests: a tiny random keras-hub BERT."""

VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "digit", "moves", "up", "down", "left", "right", "and", "to",
    "0", "1", "2", "3", "7", "##s", "a", ",", ".",
]


def tiny_bert(hidden_dim=8, max_sequence_length=16, seed=0):
    """An untrained one-layer `(BertBackbone, BertTokenizer)` pair."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY,
                                               lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY), num_layers=1, num_heads=2,
        hidden_dim=hidden_dim, intermediate_dim=2 * hidden_dim,
        max_sequence_length=max_sequence_length, dtype="float32",
    )
    return backbone, tokenizer


def tiny_text_encoder(preset="tiny", **kwargs):
    """A `kvdm.text.TextEncoder` around `tiny_bert(**kwargs)`."""
    from kvdm.text import TextEncoder

    backbone, tokenizer = tiny_bert(**kwargs)
    return TextEncoder(backbone, tokenizer, preset=preset)
