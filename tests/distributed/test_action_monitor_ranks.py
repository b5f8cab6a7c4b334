"""The action monitor on 2 FSDP ranks: each rank scores its own fixed samples (the sharded net's forwards run on
both), and both get the statistics of all the samples."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from dist_helpers import run_ranks

pytestmark = pytest.mark.distributed


def _train_and_rescore(rank: int, world: int, root: str) -> dict:
    from action_latents import tiny_action_config

    from cosmos_predict2.trainer.action_monitor import ActionSensitivityMonitor, action_losses
    from cosmos_predict2.trainer.launch import build

    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = root
    trainer = build(tiny_action_config(max_iter=2, every_n=2, batch_size=2))
    trainer.train()
    monitor = next(c for c in trainer.callbacks if isinstance(c, ActionSensitivityMonitor))
    trainer.model.eval()
    losses = action_losses(trainer.model, monitor.batch, monitor.perm, monitor.seed, 2)  # collective
    return {"stats": monitor.history[-1], "keys": monitor.keys,
            "losses": {k: v.tolist() for k, v in losses.items()}}


def test_each_rank_scores_its_own_samples_and_gets_the_global_numbers(tmp_path):
    r0, r1 = run_ranks(_train_and_rescore, 2, str(tmp_path))
    assert r0["stats"] == r1["stats"] and r0["stats"]["n"] == 16
    assert len(set(r0["keys"]) | set(r1["keys"])) == 16  # 8 held-out samples each, none shared
    per = {k: np.array(r0["losses"][k] + r1["losses"][k]) for k in ("true", "shuffled", "zero")}
    d = per["shuffled"] - per["true"]
    stats = r0["stats"]
    assert stats["true"] == pytest.approx(per["true"].mean(), rel=1e-5)
    assert stats["zero"] == pytest.approx(per["zero"].mean(), rel=1e-5)
    assert stats["gap"] == pytest.approx(d.mean(), rel=1e-4, abs=1e-7)
    assert stats["gap_se"] == pytest.approx(d.std(ddof=1) / math.sqrt(16), rel=1e-4)
