"""build_dataloader: deterministic order, resume mid-epoch, disjoint data-parallel ranks, kwargs."""

import itertools

import torch
from torch.utils.data import Dataset

from cosmos_predict2.data.bridge import BridgeActionDataset
from cosmos_predict2.data.loader import build_dataloader
from tests.data_fixtures import bridge_dir


class _Index(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"i": i}


def _ids(loader, k=None):
    out = []
    for b in itertools.islice(loader, k):
        out.extend(b["i"].tolist())
    return out


def test_resume_gives_the_uninterrupted_order():
    ds = _Index(50)
    full = _ids(build_dataloader(ds, batch_size=4, num_workers=0, seed=3))
    assert sorted(full) == sorted(set(full)) and len(full) == 48
    a = build_dataloader(ds, batch_size=4, num_workers=0, seed=3)
    head = _ids(a, k=5)
    state = a.state_dict()
    assert state["samples_consumed"] == 20 and state["epoch"] == 0
    b = build_dataloader(ds, batch_size=4, num_workers=0, seed=3)
    b.load_state_dict(state)
    assert head + _ids(b) == full
    # next epoch: a new, different order; deterministic per (seed, epoch)
    e1 = _ids(b)
    c = build_dataloader(ds, batch_size=4, num_workers=0, seed=3)
    _ids(c)
    assert _ids(c) == e1 and e1 != full


def test_resume_with_workers_and_persistent_iterator():
    ds = _Index(40)
    full = _ids(build_dataloader(ds, batch_size=2, num_workers=2, seed=1))
    a = build_dataloader(ds, batch_size=2, num_workers=2, seed=1)
    head = _ids(a, k=7)  # workers have prefetched further; the state counts what was consumed
    b = build_dataloader(ds, batch_size=2, num_workers=2, seed=1)
    b.load_state_dict(a.state_dict())
    assert head + _ids(b) == full


def test_dp_ranks_disjoint_and_cover():
    ds = _Index(23)
    per = [_ids(build_dataloader(ds, batch_size=1, num_workers=0, seed=5, dp_rank=r, dp_world_size=3))
           for r in range(3)]
    assert all(len(p) == 7 for p in per)
    flat = sum(per, [])
    assert len(set(flat)) == 21
    # no drop_last: padded, every sample seen, equal lengths
    per = [_ids(build_dataloader(ds, batch_size=1, num_workers=0, shuffle=False, drop_last=False, dp_rank=r,
                                 dp_world_size=3)) for r in range(3)]
    assert all(len(p) == 8 for p in per) and set(sum(per, [])) == set(range(23))


def test_unknown_kwargs_are_tolerated_and_pin_memory_auto():
    ld = build_dataloader(_Index(8), batch_size=2, num_workers=0, sampler=None, dataloaders={"x": 1}, foo=3)
    assert ld.pin_memory == torch.cuda.is_available()
    assert len(_ids(ld)) == 8


def test_bridge_batches_through_workers():
    ds = BridgeActionDataset(bridge_dir(), num_frames=5, video_size=[32, 48])
    ds[0]  # a reader opened in the parent must not hang the forked workers
    ld = build_dataloader(ds, batch_size=3, num_workers=2, seed=0)
    b = next(iter(ld))
    assert b["video"].shape == (3, 3, 5, 32, 48) and b["action"].shape == (3, 4, 7)
    assert len(b["__key__"]) == 3


def test_too_small_for_one_batch_is_an_error():
    import pytest
    with pytest.raises(ValueError, match="less than batch_size=4"):
        build_dataloader(_Index(7), batch_size=4, num_workers=0, dp_world_size=2)
