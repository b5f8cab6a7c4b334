"""``ckpt_type=fsdp``: the Predict1 checkpoint files (iter_N_reg_model.pt, iter_N_ema_model.pt, iter_N_optim.pt,
iter_N.pt, latest_checkpoint.txt "iter_N.pt"), resume, keep-last-k, an interrupted save, and the files read back
through the one weight loader (the guide's copied EMA file -> net weights)."""

from __future__ import annotations

import os
import shutil
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distributed"))
from trainer_toy import toy_config  # noqa: E402

from cosmos_predict2.checkpoint.base import read_latest  # noqa: E402

KEY = "blocks.0.self_attn.q_proj.weight"


def _build(root, **kw):
    os.environ["IMAGINAIRE_OUTPUT_ROOT"] = str(root)
    from cosmos_predict2.trainer.launch import build

    return build(toy_config(str(root), ckpt="fsdp", **kw))


def _ckdir(root):
    return os.path.join(str(root), "p", "g", "toy", "checkpoints")


def _full(module, key=KEY):
    return module.state_dict()[key].full_tensor()


def test_upstream_file_names_layout_and_resume(group, tmp_path):
    trainer = _build(tmp_path, max_iter=4, save_iter=2)
    trainer.train()
    ck = _ckdir(tmp_path)
    names = sorted(os.listdir(ck))
    expected = [f"iter_00000000{i}{suffix}.pt" for i in (2, 4) for suffix in ("", "_ema_model", "_optim", "_reg_model")]
    assert names == sorted(expected + ["latest_checkpoint.txt"])
    assert read_latest(ck) == "iter_000000004.pt"  # upstream's pointer names the trainer-state file
    reg = torch.load(os.path.join(ck, "iter_000000004_reg_model.pt"), weights_only=True)
    ema = torch.load(os.path.join(ck, "iter_000000004_ema_model.pt"), weights_only=True)
    assert set(reg) == set(ema) and all(k.startswith("net.") for k in reg)  # upstream: net.<param>
    assert torch.equal(reg[f"net.{KEY}"], _full(trainer.model.net))
    assert torch.equal(ema[f"net.{KEY}"], _full(trainer.model.net_ema))
    assert not torch.equal(reg[f"net.{KEY}"], ema[f"net.{KEY}"])
    optim = torch.load(os.path.join(ck, "iter_000000004_optim.pt"), weights_only=True)
    assert set(optim) == {"optimizer", "scheduler"} and optim["scheduler"]["last_epoch"] == 4
    assert torch.load(os.path.join(ck, "iter_000000004.pt"), weights_only=True)["iteration"] == 4

    resumed = _build(tmp_path, max_iter=6, save_iter=2)
    assert resumed.iteration == 4
    assert torch.equal(_full(resumed.model.net), reg[f"net.{KEY}"])
    assert torch.equal(_full(resumed.model.net_ema), ema[f"net.{KEY}"])  # EMA restored, not copied from the net
    assert resumed.scheduler.last_epoch == 4
    s_old = trainer.optimizer.state_dict()["state"]
    s_new = resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(torch.as_tensor(s_old[k]["step"]), torch.as_tensor(s_new[k]["step"])) for k in s_old)


def test_keep_last_k_and_interrupted_save(group, tmp_path, monkeypatch):
    from cosmos_predict2.checkpoint import predict1

    trainer = _build(tmp_path, max_iter=6, save_iter=2, keep_last_k=2)
    trainer.train()
    ck = _ckdir(tmp_path)
    assert sorted(n for n in os.listdir(ck) if n.endswith(".pt") and "_" not in n[5:]) == \
        ["iter_000000004.pt", "iter_000000006.pt"]
    assert not [n for n in os.listdir(ck) if n.startswith("iter_000000002")]
    before = {n: os.path.getmtime(os.path.join(ck, n)) for n in os.listdir(ck)}

    real = predict1._write_tmp

    def failing(obj, path):
        if path.endswith("_optim.pt"):
            raise OSError("disk full (simulated)")
        return real(obj, path)

    monkeypatch.setattr(predict1, "_write_tmp", failing)
    trainer.max_iter = 7
    trainer.train_step()
    with pytest.raises(OSError):
        trainer.save()
    assert read_latest(ck) == "iter_000000006.pt"
    assert not any(n.startswith("iter_000000007") and not n.endswith(".tmp") for n in os.listdir(ck))
    assert all(os.path.getmtime(os.path.join(ck, n)) == t for n, t in before.items())  # untouched
    monkeypatch.setattr(predict1, "_write_tmp", real)
    resumed = _build(tmp_path, max_iter=8, save_iter=2, keep_last_k=2)
    assert resumed.iteration == 6
    resumed.train()
    assert read_latest(ck) == "iter_000000008.pt"
    assert not [n for n in os.listdir(ck) if n.endswith(".tmp") or n.startswith(("iter_000000007", "iter_000000004"))]


def test_files_load_through_the_weight_loader(group, tmp_path):
    from cosmos_predict2.checkpoint.weights import load_weights, match_weights, read_state_dict, resolve_checkpoint

    trainer = _build(tmp_path, max_iter=2, save_iter=2)
    trainer.train()
    ck = _ckdir(tmp_path)
    net, net_ema = _full(trainer.model.net), _full(trainer.model.net_ema)

    # the guide's copy step: the EMA file as model.pt -> the net gets the EMA weights
    copied = tmp_path / "Cosmos-Predict1-7B-Video2World_action_post-trained" / "model.pt"
    copied.parent.mkdir()
    shutil.copy(os.path.join(ck, "iter_000000002_ema_model.pt"), copied)
    fresh = _build(tmp_path / "b", max_iter=1, save_iter=10, load_path=str(copied))
    assert torch.equal(_full(fresh.model.net), net_ema) and torch.equal(_full(fresh.model.net_ema), net_ema)

    # the checkpoint itself (iter_N.pt, iter_N_reg_model.pt or the folder): reg -> net, EMA file -> net_ema
    for path in (os.path.join(ck, "iter_000000002.pt"), os.path.join(ck, "iter_000000002_reg_model.pt"), ck):
        assert resolve_checkpoint(path) == ("predict1", os.path.join(ck, "iter_000000002_reg_model.pt"))
        match = match_weights(fresh.model, path)
        assert match.kind == "predict1" and not match.ema_copy
        load_weights(fresh.model, match)
        assert torch.equal(_full(fresh.model.net), net) and torch.equal(_full(fresh.model.net_ema), net_ema)
    # --load_ema / load_ema_to_reg: the net gets the EMA file's weights
    load_weights(fresh.model, match_weights(fresh.model, ck, prefer_ema=True))
    assert torch.equal(_full(fresh.model.net), net_ema)
    sd = read_state_dict(ck, progress=False)  # the converter's input
    assert torch.equal(sd[f"net.{KEY}"], net) and torch.equal(sd[f"net_ema.{KEY}"], net_ema)
