"""Preset names: resolution and errors (no preset ships yet)."""

import pytest

from kvdm import presets


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="Available presets: .*name='nope'"):
        presets.preset_path("nope")
    assert not presets.is_preset("nope")


def test_a_listed_preset_resolves_to_its_files(monkeypatch, tmp_path):
    monkeypatch.setattr(presets, "_ROOT", tmp_path)
    monkeypatch.setitem(presets.PRESETS, "digits", "test preset")
    with pytest.raises(FileNotFoundError, match="missing its model.keras"):
        presets.preset_path("digits")
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "model.keras").write_bytes(b"x")
    assert presets.preset_path("digits") == tmp_path / "digits" / "model.keras"
    assert presets.is_preset("digits")


def test_load_for_sampling_names_the_presets_for_a_missing_source(tmp_path):
    from kvdm.training import load_for_sampling

    with pytest.raises(FileNotFoundError, match="preset"):
        load_for_sampling(str(tmp_path / "missing"))
