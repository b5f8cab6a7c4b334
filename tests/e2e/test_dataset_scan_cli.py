"""The training CLI on a tiny Bridge dataset with one bad file of each kind: exit 2 with every file named in one
list, before the model is allocated (``--build-only``'s summary never prints); ``preflight=off`` skips the scan."""

from __future__ import annotations

import os

import pytest

from tests.data_fixtures import copy_of
from tests.scan_fixtures import break_json, shared_damaged_bridge

def _damaged() -> tuple[str, dict]:
    return shared_damaged_bridge("cli_scan_damaged")


def _train(data: str, name: str, *extra: str) -> int:
    from scripts.train import main

    return main(["--build-only", "--", "experiment=tiny_action_conditioned_bridge",
                 f"dataloader_train.dataset.dataset_dir={data}", f"dataloader_val.dataset.dataset_dir={data}",
                 "dataloader_train.dataset.load_t5_embeddings=True", "dataloader_train.num_workers=0",
                 "dataloader_train.batch_size=4", "model.config.precision=float32", "trainer.progress_bar=False",
                 f"job.name={name}", *extra])


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path / "out"))
    monkeypatch.setenv("COSMOS_DATASET_SCAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COSMOS_DEBUG", raising=False)
    return tmp_path


def _not_built(out: str) -> None:
    assert "parallelised" not in out and "build-only rank" not in out and "weights:" not in out


def test_every_bad_file_in_one_list_before_the_model_is_built(env, capsys):
    root, info = _damaged()
    assert _train(root, "bad") == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("error: "))
    assert lines[first] == ("error: dataset scan: 8 problems in the 30 files the datasets read (nothing was built; fix "
                            "or remove these files, then relaunch):")
    listed = lines[first + 1: first + 9]
    for case, (path, text) in info["cases"].items():
        assert any(ln.startswith(f"  - {path}: ") and text in ln for ln in listed), (case, listed)
    assert "Traceback" not in err and not os.path.exists(info["marker"])
    assert "dataset scan: 30 files" in out
    _not_built(out)
    job = env / "out" / "cosmos_predict2_tiny" / "action_conditioned" / "bad"
    assert len((job / "dataset_scan_problems.txt").read_text().splitlines()) == 8


def test_broken_annotation_json(env, capsys):
    root = copy_of(_damaged()[0], "cli_json")
    bad = break_json(root)
    assert _train(root, "json") == 2
    out, err = capsys.readouterr()
    assert f"error: {bad}: invalid JSON (" in err and err.count("error:") == 1
    _not_built(out)


def test_preflight_off_skips_the_scan(env, capsys):
    root, _ = _damaged()
    assert _train(root, "off", "dataloader_train.dataset.preflight=off") == 0  # --build-only reads no sample
    out, _ = capsys.readouterr()
    assert "dataset scan skipped for dataloader_train.dataset (preflight=off)" in out
    assert "dataset scan: " not in out and "build-only rank 0/1" in out
