"""Bad samples: markers across the DataLoader worker boundary, and the trainer's ``on_bad_sample`` policy
("error": one-line DataError with file, __key__ and iteration; "skip": bad_samples.jsonl and a skip budget)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distributed"))
from trainer_toy import toy_config  # noqa: E402

from cosmos_predict2.data.bad_samples import BAD_SAMPLES_KEY, BadSamplePolicy, LoaderIndex  # noqa: E402
from cosmos_predict2.data.errors import DataError  # noqa: E402
from cosmos_predict2.data.loader import build_dataloader  # noqa: E402
from cosmos_predict2.data.skipping import SkippingDataset  # noqa: E402

# toy_config's sampler order (seed 0, 16 samples) in batches of 2:
# [12, 10] [9, 6] [11, 8] [13, 5] [2, 14] [15, 0] [4, 3] [7, 1]


class _Flaky(SkippingDataset):
    """Sample i is {"i": i, "__key__": "k<i>"}; the indices in `bad` raise a DataError naming /data/<i>.mp4."""

    def __init__(self, n: int, bad=(), **kw):
        self._init_skip(**kw)
        self.n, self.bad = n, set(bad)

    def __len__(self):
        return self.n

    def sample_key(self, index):
        return f"k{index}"

    def _load(self, index):
        if index in self.bad:
            raise DataError(f"/data/{index}.mp4", "cannot decode video (moov atom\n not found)",
                            "re-encode or remove the file")
        return {"i": index, "__key__": f"k{index}"}


def _marker(i: int) -> dict:
    return {"index": i, "key": f"k{i}", "path": f"/data/{i}.mp4",
            "problem": "cannot decode video (moov atom not found)", "fix": "re-encode or remove the file",
            "error": f"/data/{i}.mp4: cannot decode video (moov atom not found) (fix: re-encode or remove the file)"}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_bad_samples_cross_the_worker_boundary_as_markers(num_workers):
    ds = _Flaky(8, bad={3, 6, 7})
    batches = list(build_dataloader(ds, batch_size=2, num_workers=num_workers, shuffle=False))
    assert [b["i"].tolist() if "i" in b else [] for b in batches] == [[0, 1], [2], [4, 5], []]
    assert [b.get(BAD_SAMPLES_KEY) for b in batches] == [None, [_marker(3)], None, [_marker(6), _marker(7)]]
    assert batches[1]["__key__"] == ["k2"] and batches[3] == {BAD_SAMPLES_KEY: [_marker(6), _marker(7)]}


def test_direct_indexing_raises_the_data_error():
    ds = _Flaky(8, bad={3}, on_bad_sample="skip")
    with pytest.raises(DataError) as ei:
        ds[3]
    assert str(ei.value) == ("/data/3.mp4: cannot decode video (moov atom\n not found) "
                             "(fix: re-encode or remove the file)")
    assert ds[2] == {"i": 2, "__key__": "k2"} and ds[LoaderIndex(3)].as_dict() == _marker(3)


def test_resume_counts_bad_samples_as_consumed():
    def ids(loader, k=None):
        return [(b["i"].tolist() if "i" in b else [], [m["index"] for m in b.get(BAD_SAMPLES_KEY, [])])
                for b in itertools.islice(loader, k)]

    ds = _Flaky(12, bad={0, 5, 9})
    full = ids(build_dataloader(ds, batch_size=3, num_workers=0, seed=2))
    a = build_dataloader(ds, batch_size=3, num_workers=0, seed=2)
    head = ids(a, 2)
    assert a.state_dict()["samples_consumed"] == 6
    b = build_dataloader(ds, batch_size=3, num_workers=0, seed=2)
    b.load_state_dict(a.state_dict())
    assert head + ids(b) == full and sum(len(bad) for _, bad in full) == 3


def test_policy_values_are_validated():
    with pytest.raises(ValueError, match="_Flaky: on_bad_sample='ignore' is not one of error, skip"):
        _Flaky(4, on_bad_sample="ignore")
    with pytest.raises(ValueError, match=r"dataloader_val: max_bad_sample_fraction='x' must be a number in \[0, 1\)"):
        BadSamplePolicy("skip", "x", loader_name="dataloader_val")


def test_skip_budget_allows_ten_then_the_fraction(tmp_path):
    policy = BadSamplePolicy("skip", 0.05, str(tmp_path))
    bad = [_marker(i) for i in range(10)]
    assert policy.update(bad, 0, 1) is None  # 10 skips are always allowed
    assert policy.update([], 290, 2) is None  # 300 drawn: 5% allows 15
    assert policy.update(bad[:5], 0, 3) is None  # 15 of 305
    err = policy.update(bad[:2], 0, 4)  # 17 > 5% of 307
    assert str(err) == (f"{tmp_path}/bad_samples.jsonl: 17 bad samples skipped of 307 drawn on rank 0 by iteration 4 "
                        "(train), more than max_bad_sample_fraction=0.05 (and the 10 always allowed); the last: "
                        "/data/1.mp4: cannot decode video (moov atom not found) (fix: repair or remove the files "
                        "listed in this file, or raise dataloader_train.dataset.max_bad_sample_fraction)")
    assert len(open(tmp_path / "bad_samples.jsonl").readlines()) == 17


# ----------------------------------------------------------------------------- the trainer
def _trainer(root, config=None, **kw):
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(root)
    from cosmos_predict2.trainer.launch import build

    return build(config if config is not None else toy_config(str(root), ckpt="dummy", **kw))


def _jsonl(root) -> list[dict]:
    return [json.loads(line) for line in open(os.path.join(str(root), "p", "g", "toy", "bad_samples.jsonl"))]


def test_error_policy_stops_with_file_key_and_iteration(group, tmp_path):
    trainer = _trainer(tmp_path, bad=(9,), max_iter=4)
    with pytest.raises(DataError) as ei:
        trainer.train()
    assert str(ei.value) == ("/toy/bad_9.mp4: cannot decode video (toy) (sample __key__='sample_009', dataset index 9, "
                             "iteration 2) (fix: re-encode or remove the file; or skip bad samples with "
                             "dataloader_train.dataset.on_bad_sample=skip)")
    assert trainer.iteration == 1


def test_skip_policy_drops_samples_and_lists_them(group, tmp_path, caplog):
    trainer = _trainer(tmp_path, bad=(9, 6, 2), on_bad_sample="skip", max_iter=4)
    with caplog.at_level(logging.WARNING):
        losses = trainer.train()
    assert len(losses) == 4 and all(v == v for v in losses)
    assert [(r["iteration"], r["rank"], r["key"], r["index"], r["path"], r["split"]) for r in _jsonl(tmp_path)] == [
        (2, 0, "sample_009", 9, "/toy/bad_9.mp4", "train"), (2, 0, "sample_006", 6, "/toy/bad_6.mp4", "train"),
        (4, 0, "sample_002", 2, "/toy/bad_2.mp4", "train")]
    assert _jsonl(tmp_path)[0]["error"] == ("/toy/bad_9.mp4: cannot decode video (toy) "
                                            "(fix: re-encode or remove the file)")
    warnings = [r.getMessage() for r in caplog.records if "skipping bad sample" in r.getMessage()]
    assert len(warnings) == 3 and "__key__='sample_002' (index 2, iteration 4, train; 3 skipped" in warnings[2]
    assert trainer.dataloader_train.state_dict()["samples_consumed"] == 10  # 5 batches drawn for 4 iterations


def test_skip_policy_stops_past_the_budget(group, tmp_path):
    trainer = _trainer(tmp_path, bad=tuple(i for i in range(16) if i not in (12, 10)), on_bad_sample="skip",
                       max_iter=4)
    with pytest.raises(DataError) as ei:
        trainer.train()
    jsonl = os.path.join(str(tmp_path), "p", "g", "toy", "bad_samples.jsonl")
    assert str(ei.value) == (f"{jsonl}: 12 bad samples skipped of 14 drawn on rank 0 by iteration 2 (train), more than "
                             "max_bad_sample_fraction=0.01 (and the 10 always allowed); the last: /toy/bad_3.mp4: "
                             "cannot decode video (toy) (fix: repair or remove the files listed in this file, or raise "
                             "dataloader_train.dataset.max_bad_sample_fraction)")
    assert len(_jsonl(tmp_path)) == 12


def test_resume_after_skips_sees_the_same_samples(group, tmp_path):
    kw = dict(bad=(9, 6, 2), on_bad_sample="skip", save_iter=2)  # iteration 2 after a skipped batch, 4 of one sample
    full = _trainer(tmp_path / "full", toy_config(str(tmp_path / "full"), ckpt="dummy", max_iter=4, **kw)).train()
    first = _trainer(tmp_path / "cut", toy_config(str(tmp_path / "cut"), max_iter=2, **kw)).train()
    resumed = _trainer(tmp_path / "cut", toy_config(str(tmp_path / "cut"), max_iter=4, **kw))
    assert resumed.iteration == 2 and resumed.dataloader_train.state_dict()["samples_consumed"] == 6
    assert first + resumed.train() == pytest.approx(full, rel=1e-6)


def test_validation_skips_or_stops_on_bad_samples(group, tmp_path):
    cfg = toy_config(str(tmp_path), ckpt="dummy", max_iter=2, bad=(9, 6), on_bad_sample="skip")
    cfg.dataloader_val = cfg.dataloader_train
    cfg.trainer.run_validation, cfg.trainer.validation_iter, cfg.trainer.max_val_iter = True, 2, 3
    trainer = _trainer(tmp_path, cfg)
    trainer.train()
    val = [r for r in _jsonl(tmp_path) if r["split"] == "val"]
    assert [(r["iteration"], r["index"]) for r in val] == [(2, 9), (2, 6)]
    records = [json.loads(line) for line in open(os.path.join(str(tmp_path), "p", "g", "toy", "metrics.jsonl"))]
    assert [r["num_batches"] for r in records if r["split"] == "val"] == [3]

    trainer.dataloader_val.dataset.on_bad_sample = "error"
    trainer.dataloader_val.load_state_dict({"epoch": 0, "samples_consumed": 0})  # validations continue the order
    trainer._bad_sample_policies.clear()
    with pytest.raises(DataError, match=r"bad_9.mp4: cannot decode video \(toy\) \(sample __key__='sample_009', "
                                        r"dataset index 9, validation at iteration 2\) \(fix: re-encode or remove the "
                                        r"file; or skip bad samples with dataloader_val.dataset.on_bad_sample=skip\)"):
        trainer.validate()
