"""DCP folders are read without letting them run code: a crafted ``.metadata`` or a crafted non-tensor entry is
refused with a one-line error naming the file, and its payload never runs; genuine folders read as torch reads
them."""

from __future__ import annotations

import os
import pickle

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint import FileSystemReader
from torch.distributed.checkpoint.api import CheckpointException

from cosmos_predict2.checkpoint.safe_dcp import SafeFileSystemReader, read_dcp_metadata
from cosmos_predict2.checkpoint.weights import CheckpointError, open_source


class Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _save(folder: str, state: dict) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save(state, checkpoint_id=folder)


def write_payload_metadata(folder: str, marker: str) -> None:
    """A real DCP folder whose ``.metadata`` is the genuine metadata with a payload hidden in planner_data."""
    _save(folder, {"net.w": torch.ones(2, 3)})
    metadata = FileSystemReader(folder).read_metadata()
    metadata.planner_data = {"net.w": ("net", "w"), "x": Payload(marker)}
    with open(os.path.join(folder, ".metadata"), "wb") as f:
        pickle.dump(metadata, f)


def test_genuine_metadata_and_entries_read_as_torch_reads_them(tmp_path):
    folder = str(tmp_path / "model")
    state = {"net.a": torch.randn(3, 4), "net.b": torch.arange(5).to(torch.bfloat16),
             "net.c": torch.tensor(3), "lr": 0.25, "betas": (0.9, 0.99), "name": "adamw", "group": {"k": 2}}
    _save(folder, state)
    ours, torchs = read_dcp_metadata(folder), FileSystemReader(folder).read_metadata()
    assert ours.state_dict_metadata == torchs.state_dict_metadata
    assert ours.storage_data == torchs.storage_data and ours.planner_data == torchs.planner_data
    everything = open_source(folder).read_all(progress=False)
    reference = _read_with_torch(folder)
    assert sorted(everything) == sorted(reference) and len(reference) >= len(state)
    for key, value in reference.items():
        if torch.is_tensor(value):
            assert torch.equal(everything[key], value) and everything[key].dtype == value.dtype
        else:
            assert everything[key] == value


def _read_with_torch(folder: str) -> dict:
    """Every entry as torch's own (unrestricted) reader gives it, flattened as the converter flattens."""
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    from cosmos_predict2.checkpoint.weights import _flatten

    sd: dict = {}
    _load_state_dict(sd, storage_reader=FileSystemReader(folder), planner=_EmptyStateDictLoadPlanner(), no_dist=True)
    return _flatten(sd)


def test_payload_in_metadata_is_refused_and_never_runs(tmp_path):
    folder, marker = str(tmp_path / "model"), tmp_path / "pwned"
    write_payload_metadata(folder, str(marker))
    with pytest.raises(CheckpointError) as err:
        read_dcp_metadata(folder)
    message = str(err.value)
    assert os.path.join(folder, ".metadata") in message and "system" in message and "refusing" in message
    assert "\n" not in message
    with pytest.raises(CheckpointError, match="refusing"):
        open_source(folder)
    target = {"net.w": torch.zeros(2, 3)}
    with pytest.raises((Exception, CheckpointException), match="refusing"):  # torch re-wraps the error
        dcp.load(target, storage_reader=SafeFileSystemReader(folder))
    assert not marker.exists()
    FileSystemReader(folder).read_metadata()  # torch's own reader runs it: what the safe reader prevents
    assert marker.exists()


def test_payload_in_a_non_tensor_entry_is_refused_and_never_runs(tmp_path):
    folder, marker = str(tmp_path / "model"), tmp_path / "pwned"
    _save(folder, {"net.w": torch.ones(2), "extra": Payload(str(marker))})
    assert not marker.exists()  # saving pickles it; nothing ran
    source = open_source(folder)  # the metadata itself is genuine
    with pytest.raises(CheckpointError) as err:
        source.read_all(progress=False)
    assert "'extra'" in str(err.value) and "refusing" in str(err.value) and folder in str(err.value)
    assert torch.equal(source.read("net.w"), torch.ones(2))  # tensors alone still read
    assert not marker.exists()


def test_converter_refuses_a_payload_folder(tmp_path, capsys):
    from scripts.convert_distcp_to_pt import main as convert_main

    marker = tmp_path / "pwned"
    model = tmp_path / "checkpoints" / "iter_000000010" / "model"
    write_payload_metadata(str(model), str(marker))
    assert convert_main([str(model.parent), str(tmp_path / "out"), "--no-progress"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "refusing" in err[0] and ".metadata" in err[0]
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_truncated_and_garbage_metadata_are_plain_errors(tmp_path):
    folder = str(tmp_path / "model")
    _save(folder, {"net.w": torch.ones(2, 3)})
    path = os.path.join(folder, ".metadata")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot be read .*truncated"):
        read_dcp_metadata(folder)
    open(path, "wb").write(pickle.dumps({"not": "metadata"}))
    with pytest.raises(CheckpointError, match="holds a dict, not DCP metadata"):
        read_dcp_metadata(folder)
