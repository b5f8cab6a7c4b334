"""T5 embedding files (``t5_xxl/<name>.pickle`` / ``.npy``): written atomically, read without letting them run code.

Only plain containers (list, tuple, dict, set, str, bytes, numbers, None) and numpy arrays / dtypes /
scalars may appear. Anything else (``os.system``, ``builtins.eval``, ...) raises
:class:`UnsafePickleError` naming the file, before the object is ever called.
"""

from __future__ import annotations

import os

import pickle

import numpy as np

from cosmos_predict2.data.errors import DataError, UnsafePickleError
from cosmos_predict2.utils.files import atomic_write_bytes
from cosmos_predict2.utils.restricted_pickle import RefusedGlobal, restricted_loads

# (module, name) pairs a numpy-array pickle legitimately needs (numpy 1.x and 2.x module paths); plain
# containers are always allowed (utils/restricted_pickle.py)
_NUMPY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


def safe_load_pickle(path: str | os.PathLike):
    """Unpickle `path` allowing only containers and numpy data. Raises DataError / UnsafePickleError."""
    path = str(path)
    if not os.path.isfile(path):
        raise DataError(path, "embedding file does not exist")
    with open(path, "rb") as f:
        data = f.read()
    try:
        return restricted_loads(data, _NUMPY)
    except RefusedGlobal as e:
        raise UnsafePickleError(
            path, f"pickle refers to '{e.module}.{e.name}', which is not a plain container or numpy array; "
            "refusing to load it (it could run code)", "regenerate the file with scripts/get_t5_embeddings.py") from None
    except Exception as e:
        raise DataError(path, f"cannot unpickle embedding file ({type(e).__name__}: {e})",
                        "regenerate it with scripts/get_t5_embeddings.py") from e


def load_embedding(path: str | os.PathLike, dim: int | None = None, max_tokens: int | None = None) -> np.ndarray:
    """A T5 embedding (n_tokens, D) from a `.pickle` (list holding one array, or a bare array) or `.npy`.

    Checks the shape against `dim` / `max_tokens` and returns float32.
    """
    path = str(path)
    if path.endswith(".npy"):
        try:
            obj = np.load(path, allow_pickle=False)
        except Exception as e:
            raise DataError(path, f"cannot read .npy embedding ({type(e).__name__}: {e})") from e
    else:
        obj = safe_load_pickle(path)
    if isinstance(obj, (list, tuple)):
        if len(obj) < 1:
            raise DataError(path, "embedding pickle holds an empty list; expected [array(n_tokens, D)]")
        obj = obj[0]
    if not isinstance(obj, np.ndarray):
        raise DataError(path, f"embedding is a {type(obj).__name__}, expected a numpy array (n_tokens, D)")
    if obj.ndim == 3 and obj.shape[0] == 1:
        obj = obj[0]
    if obj.ndim != 2:
        raise DataError(path, f"embedding has shape {obj.shape}, expected (n_tokens, D)")
    if dim is not None and obj.shape[1] != dim:
        raise DataError(path, f"embedding dim is {obj.shape[1]} but t5_embedding_dim={dim}",
                        "set t5_embedding_dim to match or regenerate the embeddings")
    if max_tokens is not None and obj.shape[0] > max_tokens:
        raise DataError(path, f"embedding has {obj.shape[0]} tokens, more than max_text_tokens={max_tokens}")
    if not np.isfinite(obj).all():
        raise DataError(path, "embedding contains NaN/inf values")
    return obj.astype(np.float32)


def save_embedding_pickle(path: str, emb_N_D: np.ndarray) -> None:
    """Write the ``t5_xxl/<name>.pickle`` format (atomically): a list holding one float16 array (n_tokens, D)."""
    atomic_write_bytes(path, pickle.dumps([np.asarray(emb_N_D, dtype=np.float16)]))
