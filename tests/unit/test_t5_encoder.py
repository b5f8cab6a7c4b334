"""T5TextEncoder with a tiny random T5 built offline: shapes, zeroing past length, parity, determinism, IO."""

import socket

import numpy as np
import pytest
import torch

from cosmos_predict2.data.safe_pickle import load_embedding, save_embedding_pickle
from cosmos_predict2.text_encoders.t5 import T5TextEncoder
from cosmos_predict2.text_encoders.tiny_t5 import save_tiny_t5

PROMPTS = ["A robot arm picks up the red cup.", "", "x" * 200]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network: HF offline mode plus a socket that refuses to connect."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_t5(str(tmp_path_factory.mktemp("tiny_t5")), d_model=32, seed=0)


def test_shapes_lengths_and_zeroing(tiny_dir):
    enc = T5TextEncoder(tiny_dir, max_length=64, dtype=torch.float32)
    emb, lengths = enc.encode_prompts(PROMPTS)
    assert emb.shape == (3, 64, 32) and emb.dtype == torch.float32
    assert lengths.dtype == torch.int64
    # ByT5: one token per UTF-8 byte plus </s>; the long prompt is truncated to max_length
    assert lengths.tolist() == [len(PROMPTS[0].encode()) + 1, 1, 64]
    for b, length in enumerate(lengths.tolist()):
        assert torch.all(emb[b, length:] == 0)
        assert torch.all(emb[b, :length].abs().sum(-1) > 0)
    assert enc.embed_dim == 32


def test_matches_unpadded_reference_forward(tiny_dir):
    """Padding + masking must not change the real tokens' embeddings (independent unpadded forward)."""
    from transformers import AutoTokenizer, T5EncoderModel

    enc = T5TextEncoder(tiny_dir, max_length=64, dtype=torch.float32)
    emb, lengths = enc.encode_prompts(PROMPTS[:1])
    tok = AutoTokenizer.from_pretrained(tiny_dir, local_files_only=True)
    ref_model = T5EncoderModel.from_pretrained(tiny_dir, local_files_only=True).eval()
    ids = tok(PROMPTS[0], return_tensors="pt").input_ids
    with torch.no_grad():
        ref = ref_model(input_ids=ids).last_hidden_state[0]
    assert ids.shape[1] == lengths[0]
    torch.testing.assert_close(emb[0, : lengths[0]], ref, rtol=1e-5, atol=1e-5)


def test_determinism_and_reload_equality(tiny_dir, tmp_path):
    enc = T5TextEncoder(tiny_dir, max_length=32, dtype=torch.float32)
    a, _ = enc.encode_prompts(PROMPTS)
    b, _ = enc.encode_prompts(PROMPTS)
    assert torch.equal(a, b)
    same_seed = T5TextEncoder(save_tiny_t5(str(tmp_path / "again"), d_model=32, seed=0), max_length=32,
                              dtype=torch.float32)  # fmt: skip
    assert torch.equal(same_seed.encode_prompts(PROMPTS)[0], a)
    other_seed = T5TextEncoder(save_tiny_t5(str(tmp_path / "other"), d_model=32, seed=1), max_length=32,
                               dtype=torch.float32)  # fmt: skip
    assert not torch.allclose(other_seed.encode_prompts(PROMPTS)[0], a)
    wide = T5TextEncoder(save_tiny_t5(str(tmp_path / "wide"), d_model=48, seed=0), max_length=16)
    assert wide.encode_prompts(["hi"])[0].shape == (1, 16, 48)


def test_loads_upstream_cache_dir_layout(tiny_dir, tmp_path):
    """A folder used as HF cache_dir (models--owner--name/snapshots/<rev>, refs/main) loads offline."""
    import shutil

    repo = tmp_path / "t5-11b" / "models--google-t5--t5-11b"
    shutil.copytree(tiny_dir, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    enc = T5TextEncoder(str(tmp_path / "t5-11b"), max_length=16, dtype=torch.float32)
    ref = T5TextEncoder(tiny_dir, max_length=16, dtype=torch.float32)
    assert torch.equal(enc.encode_prompts(PROMPTS)[0], ref.encode_prompts(PROMPTS)[0])


def test_bfloat16_close_to_float32(tiny_dir):
    e32, _ = T5TextEncoder(tiny_dir, max_length=48, dtype=torch.float32).encode_prompts(PROMPTS)
    e16, _ = T5TextEncoder(tiny_dir, max_length=48).encode_prompts(PROMPTS)  # default bfloat16
    assert e16.dtype == torch.float32
    assert ((e16 - e32).norm() / e32.norm()).item() < 0.05


def test_arrays_and_pickle_format(tiny_dir, tmp_path):
    enc = T5TextEncoder(tiny_dir, max_length=64, dtype=torch.float32)
    arrays = enc.encode_to_arrays(PROMPTS, batch_size=2)
    emb, lengths = enc.encode_prompts(PROMPTS)
    assert len(arrays) == 3
    for arr, row, length in zip(arrays, emb, lengths.tolist()):
        assert arr.dtype == np.float16 and arr.shape == (length, 32)
        np.testing.assert_array_equal(arr, row[:length].numpy().astype(np.float16))
    path = tmp_path / "clip.pickle"
    save_embedding_pickle(str(path), arrays[0])
    import pickle

    raw = pickle.loads(path.read_bytes())
    assert isinstance(raw, list) and len(raw) == 1 and raw[0].dtype == np.float16
    np.testing.assert_array_equal(load_embedding(str(path)), arrays[0].astype(np.float32))


def test_clear_errors(tmp_path, tiny_dir):
    with pytest.raises(FileNotFoundError, match="huggingface-cli download google-t5/t5-11b"):
        T5TextEncoder(str(tmp_path / "checkpoints" / "google-t5" / "t5-11b"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        T5TextEncoder(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="scripts/download_checkpoints.py"):
        T5TextEncoder("google-t5/t5-11b", cache_dir=str(tmp_path / "hf_cache"))  # not cached, offline
    with pytest.raises(ValueError, match="float16"):
        T5TextEncoder(tiny_dir, dtype=torch.float16)
    with pytest.raises(ValueError, match="list of strings"):
        T5TextEncoder(tiny_dir, dtype=torch.float32).encode_prompts("not a list")
