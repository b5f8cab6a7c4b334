"""The embedding unpickler loads numpy data but refuses anything that could run code."""

import os
import pickle

import numpy as np
import pytest

from cosmos_predict2.data.errors import DataError, UnsafePickleError
from cosmos_predict2.data.safe_pickle import load_embedding, safe_load_pickle


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_raises_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pickle"
    p.write_bytes(pickle.dumps([_Evil(str(marker))]))
    with pytest.raises(UnsafePickleError) as ei:
        safe_load_pickle(str(p))
    assert str(p) in str(ei.value) and "system" in str(ei.value)
    assert isinstance(ei.value, ValueError)
    assert not marker.exists()
    q = tmp_path / "eval.pickle"
    q.write_bytes(pickle.dumps(eval, protocol=2))
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        load_embedding(str(q))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_embeddings_load(tmp_path, protocol):
    arr = np.arange(24, dtype=np.float16).reshape(6, 4)
    p = tmp_path / "ok.pickle"
    p.write_bytes(pickle.dumps([arr], protocol=protocol))
    out = load_embedding(str(p), dim=4, max_tokens=512)
    assert out.dtype == np.float32 and np.array_equal(out, arr.astype(np.float32))
    p.write_bytes(pickle.dumps({"a": (1, 2.5, "x", None, b"yz"), "d": np.dtype("float32"), "s": np.float32(3)},
                               protocol=protocol))
    assert safe_load_pickle(str(p))["a"] == (1, 2.5, "x", None, b"yz")


def test_bad_embedding_files(tmp_path):
    p = tmp_path / "e.pickle"
    p.write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match="cannot unpickle"):
        load_embedding(str(p))
    p.write_bytes(pickle.dumps([np.zeros((3, 4, 5), np.float16)]))
    with pytest.raises(DataError, match="expected \\(n_tokens, D\\)"):
        load_embedding(str(p))
    p.write_bytes(pickle.dumps([np.zeros((600, 4), np.float16)]))
    with pytest.raises(DataError, match="more than max_text_tokens=512"):
        load_embedding(str(p), max_tokens=512)
    with pytest.raises(DataError, match="does not exist"):
        load_embedding(str(tmp_path / "missing.pickle"))
