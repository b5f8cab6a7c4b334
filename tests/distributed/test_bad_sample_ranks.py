"""Bad samples on 2 ranks: a data error on one rank stops both (no rank left waiting in a collective), and
skipped samples or batches on one rank keep training and validation in step."""

from __future__ import annotations

import json
import os

import pytest

from dist_helpers import run_ranks

pytestmark = pytest.mark.distributed

# per-rank sampler order (seed 0, 16 samples, 2 ranks) in batches of 2:
# rank 0: [12, 9] [11, 13] [2, 15] [4, 7]    rank 1: [10, 6] [8, 5] [14, 0] [3, 1]


def _both_policies(rank: int, world: int, root: str) -> dict:
    from trainer_toy import toy_config

    from cosmos_predict2.data.errors import DataError
    from cosmos_predict2.trainer.launch import build

    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = root
    out = {}
    trainer = build(toy_config(root, name="error", ckpt="dummy", max_iter=3, bad=(8,)))
    try:
        trainer.train()
    except DataError as err:
        out["error"] = (str(err), trainer.iteration)
    cfg = toy_config(root, name="skip", ckpt="dummy", max_iter=2, bad=(10, 6), on_bad_sample="skip")
    cfg.dataloader_val = cfg.dataloader_train
    cfg.trainer.run_validation, cfg.trainer.validation_iter = True, 2
    out["skip"] = build(cfg).train()
    return out


def test_a_data_error_on_one_rank_stops_both_and_skips_stay_in_step(tmp_path):
    root = str(tmp_path)
    r0, r1 = run_ranks(_both_policies, 2, root)
    assert r1["error"] == ("/toy/bad_8.mp4: cannot decode video (toy) (sample __key__='sample_008', dataset index 8, "
                           "iteration 2) (fix: re-encode or remove the file; or skip bad samples with "
                           "dataloader_train.dataset.on_bad_sample=skip)", 1)
    assert r0["error"] == ("stopping at iteration 2: rank 1 hit bad data (its error line names the file)", 1)
    assert r0["skip"] == r1["skip"] and len(r0["skip"]) == 2  # the global mean loss of each iteration
    lines = [json.loads(x) for x in open(os.path.join(root, "p", "g", "skip", "bad_samples.jsonl"))]
    assert sorted((r["split"], r["rank"], r["index"], r["iteration"]) for r in lines) == [
        ("train", 1, 6, 1), ("train", 1, 10, 1), ("val", 1, 6, 2), ("val", 1, 10, 2)]
    metrics = [json.loads(x) for x in open(os.path.join(root, "p", "g", "skip", "metrics.jsonl"))]
    assert [r["num_batches"] for r in metrics if r["split"] == "val"] == [3]  # rank 1 ran out after 3: both stop
