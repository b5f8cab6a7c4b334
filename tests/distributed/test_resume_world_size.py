"""Save on 2 ranks -> resume on 1 (and the reverse): the next losses equal an uninterrupted run's."""

from __future__ import annotations

import os

import pytest

from dist_helpers import run_ranks, single_process_group

pytestmark = pytest.mark.distributed


def _train_on_ranks(rank: int, world: int, root: str, kwargs: dict) -> list:
    from trainer_toy import train_toy

    return train_toy(root, **kwargs)


def _train_here(root: str, **kwargs) -> list:
    from trainer_toy import train_toy

    with single_process_group():
        return train_toy(root, **kwargs)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[float]:
    return _train_here(str(tmp_path_factory.mktemp("full")), name="full", ckpt="dummy", max_iter=6, batch_size=2)


# FSDP -> DCP folders, HSDP -> full-state .pt files, FSDP -> Predict1's iter_N_{reg,ema}_model.pt (rank 0 gathers)
VARIANTS = {"dcp": -1, "standard": 1, "fsdp": -1}


def _first_halves(rank: int, world: int, root: str) -> dict:
    from trainer_toy import train_toy

    return {ckpt: train_toy(root, name=f"job_{ckpt}", ckpt=ckpt, max_iter=3, save_iter=3, batch_size=1,
                            fsdp_shard_size=shard) for ckpt, shard in VARIANTS.items()}


@pytest.fixture(scope="module")
def saved_on_2(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("saved_on_2"))
    return root, run_ranks(_first_halves, 2, root)


@pytest.mark.parametrize("ckpt", sorted(VARIANTS))
def test_save_on_2_resume_on_1(uninterrupted, saved_on_2, ckpt):
    root, results = saved_on_2
    assert results[0][ckpt] == pytest.approx(uninterrupted[:3], rel=2e-5)
    latest = open(os.path.join(root, f"p/g/job_{ckpt}/checkpoints/latest_checkpoint.txt")).read().strip()
    assert latest == ("iter_000000003" if ckpt == "dcp" else "iter_000000003.pt")
    resumed = _train_here(root, name=f"job_{ckpt}", ckpt=ckpt, max_iter=6, save_iter=3, batch_size=2)
    assert len(resumed) == 3  # iterations 4..6 only
    assert resumed == pytest.approx(uninterrupted[3:], rel=2e-5)


def test_save_on_1_resume_on_2(uninterrupted, tmp_path):
    root = str(tmp_path)
    first = _train_here(root, name="job", max_iter=3, save_iter=3, batch_size=2)
    assert first == pytest.approx(uninterrupted[:3], rel=1e-6)
    resumed = run_ranks(_train_on_ranks, 2, root, dict(name="job", max_iter=6, save_iter=3, batch_size=1))
    for losses in resumed:
        assert losses == pytest.approx(uninterrupted[3:], rel=2e-5)
    assert open(os.path.join(root, "p/g/job/checkpoints/latest_checkpoint.txt")).read().strip() == "iter_000000006"
