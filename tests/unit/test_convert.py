"""scripts/convert_distcp_to_pt.py on real DCP checkpoints written by torch.distributed.checkpoint (one
process, no process group) and on standard model/iter_N.pt files."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch import nn

from scripts.convert_distcp_to_pt import main as convert_main


def _model_state(seed: int = 0, ema: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {
        "net.blocks.0.self_attn.q_proj.weight": torch.randn(8, 8, generator=g),
        "net.blocks.0.mlp.layer1.weight": torch.randn(16, 8, generator=g),
        "net.final_layer.linear.bias": torch.randn(4, generator=g),
    }
    if ema:
        sd.update({k.replace("net.", "net_ema.", 1): torch.randn_like(v) for k, v in list(sd.items())})
    return sd


def _save_dcp(sd: dict, path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save({k: v.clone() for k, v in sd.items()}, checkpoint_id=path)


@pytest.fixture
def dcp_iter(tmp_path):
    sd = _model_state()
    ckpts = tmp_path / "job" / "checkpoints"
    _save_dcp(sd, str(ckpts / "iter_000000004" / "model"))
    (ckpts / "latest_checkpoint.txt").write_text("iter_000000004")
    return sd, ckpts


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("which", ["iter", "model", "checkpoints"])
def test_dcp_to_three_files(dcp_iter, tmp_path, which):
    sd, ckpts = dcp_iter
    src = {"iter": ckpts / "iter_000000004", "model": ckpts / "iter_000000004" / "model", "checkpoints": ckpts}[which]
    out = tmp_path / "out"
    assert convert_main([str(src), str(out), "--no-progress"]) == 0
    full = _load(out / "model.pt")
    assert set(full) == set(sd) and all(torch.equal(full[k], sd[k]) for k in sd)
    fp32 = _load(out / "model_ema_fp32.pt")
    ema = {k.replace("net_ema.", "net.", 1): v for k, v in sd.items() if k.startswith("net_ema.")}
    assert set(fp32) == set(ema) and all(torch.equal(fp32[k], ema[k]) and fp32[k].dtype == torch.float32 for k in ema)
    bf16 = _load(out / "model_ema_bf16.pt")
    assert all(bf16[k].dtype == torch.bfloat16 and torch.equal(bf16[k], ema[k].bfloat16()) for k in ema)


def test_without_ema_says_so_and_uses_regular_weights(tmp_path, capsys):
    sd = _model_state(ema=False)
    _save_dcp(sd, str(tmp_path / "iter_000000002" / "model"))
    assert convert_main([str(tmp_path / "iter_000000002"), str(tmp_path / "o"), "--no-progress"]) == 0
    assert "no EMA" in capsys.readouterr().out
    fp32 = _load(tmp_path / "o" / "model_ema_fp32.pt")
    assert all(torch.equal(fp32[k], sd[k]) for k in sd)


def test_no_ema_flag(dcp_iter, tmp_path):
    sd, ckpts = dcp_iter
    assert convert_main([str(ckpts / "iter_000000004"), str(tmp_path / "o"), "--no-ema", "--no-progress"]) == 0
    full = _load(tmp_path / "o" / "model.pt")
    assert all(k.startswith("net.") for k in full) and len(full) == 3
    assert os.path.isfile(tmp_path / "o" / "model_bf16.pt") and not os.path.exists(tmp_path / "o" / "model_ema_fp32.pt")


def test_standard_checkpoint_pt(tmp_path):
    sd = _model_state(seed=3)
    (tmp_path / "model").mkdir()
    torch.save(sd, tmp_path / "model" / "iter_000000010.pt")
    assert convert_main([str(tmp_path / "model" / "iter_000000010.pt"), str(tmp_path / "o"), "--no-progress"]) == 0
    fp32 = _load(tmp_path / "o" / "model_ema_fp32.pt")
    assert torch.equal(fp32["net.final_layer.linear.bias"], sd["net_ema.final_layer.linear.bias"])


def test_safetensors_format(dcp_iter, tmp_path):
    from safetensors.torch import load_file

    sd, ckpts = dcp_iter
    assert convert_main([str(ckpts), str(tmp_path / "o"), "--format", "safetensors", "--no-progress"]) == 0
    bf16 = load_file(str(tmp_path / "o" / "model_ema_bf16.safetensors"))
    assert torch.equal(bf16["net.final_layer.linear.bias"], sd["net_ema.final_layer.linear.bias"].bfloat16())


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_truncated_distcp_is_a_one_line_error(dcp_iter, tmp_path, capsys):
    _, ckpts = dcp_iter
    shard = ckpts / "iter_000000004" / "model" / "__0_0.distcp"
    shard.write_bytes(shard.read_bytes()[:100])
    assert convert_main([str(ckpts / "iter_000000004"), str(tmp_path / "o"), "--no-progress"]) == 2
    assert "truncated" in _one_line_error(capsys)


def test_non_checkpoints_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert convert_main([str(tmp_path / "empty"), str(tmp_path / "o")]) == 2
    assert "not a checkpoint" in _one_line_error(capsys)
    (tmp_path / "x.pt").write_bytes(b"hello")
    assert convert_main([str(tmp_path / "x.pt"), str(tmp_path / "o")]) == 2
    assert "x.pt" in _one_line_error(capsys)
    torch.save({"optimizer": torch.zeros(2)}, tmp_path / "optim.pt")
    assert convert_main([str(tmp_path / "optim.pt"), str(tmp_path / "o")]) == 2
    assert "net.*" in _one_line_error(capsys)
    assert convert_main([str(tmp_path / "missing"), str(tmp_path / "o")]) == 2
    assert "does not exist" in _one_line_error(capsys)
    (tmp_path / "bad" / "model").mkdir(parents=True)
    (tmp_path / "bad" / "model" / ".metadata").write_bytes(b"\x00garbage")
    assert convert_main([str(tmp_path / "bad"), str(tmp_path / "o")]) == 2
    assert "metadata" in _one_line_error(capsys)


class _Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(6, 6)
        self.other = nn.Linear(6, 6)


def test_merge_lora_matches_adapter_forward(tmp_path):
    from cosmos_predict2.models.lora import checkpoint_key, inject_lora

    torch.manual_seed(0)
    net = nn.Sequential(_Attn())
    inject_lora(net, rank=2, alpha=4, target_modules="q_proj")
    with torch.no_grad():
        net[0].q_proj.lora_B["default"].weight.normal_()
    sd = {f"net.{checkpoint_key(k)}": v.detach().clone() for k, v in net.state_dict().items()}
    _save_dcp(sd, str(tmp_path / "iter_000000001" / "model"))
    assert convert_main([str(tmp_path / "iter_000000001"), str(tmp_path / "o"), "--merge-lora", "--lora-alpha", "4",
                         "--no-progress"]) == 0
    merged = _load(tmp_path / "o" / "model_ema_fp32.pt")
    assert not any("lora_" in k for k in merged)
    plain = nn.Sequential(_Attn())
    plain.load_state_dict({k[4:]: v for k, v in merged.items()})
    x = torch.randn(3, 6)
    torch.testing.assert_close(plain[0].q_proj(x), net[0].q_proj(x), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(plain[0].q_proj(x), x @ sd["net.0.q_proj.weight"].T + sd["net.0.q_proj.bias"])


def test_diffusers_export_loads_in_diffusers(tmp_path):
    from cosmos_predict2.configs.compose import compose_config
    from cosmos_predict2.lazy_config import instantiate
    from cosmos_predict2.models.diffusers_reference import patch_torchvision_resize
    from cosmos_predict2.models.key_maps import dit_state_dict_to_diffusers

    cfg = compose_config("cosmos_predict2/configs/base/config.py", ["experiment=tiny_video2world_text"])
    torch.manual_seed(0)
    net = instantiate(cfg.model.config.net)
    sd = {f"net.{k}": v for k, v in net.state_dict().items()}
    _save_dcp(sd, str(tmp_path / "iter_000000001" / "model"))
    assert convert_main([str(tmp_path / "iter_000000001"), str(tmp_path / "o"), "--format", "diffusers",
                         "--experiment", "tiny_video2world_text", "--no-progress"]) == 0
    tc = patch_torchvision_resize()
    ref = tc.CosmosTransformer3DModel.from_pretrained(str(tmp_path / "o" / "transformer"))
    expected, _ = dit_state_dict_to_diffusers(net.state_dict(), strict=False)
    got = ref.state_dict()
    assert set(expected) <= set(got)
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_corrupt_distcp_same_size_is_a_one_line_error(dcp_iter, tmp_path, capsys):
    _, ckpts = dcp_iter
    shard = ckpts / "iter_000000004" / "model" / "__0_0.distcp"
    shard.write_bytes(b"\x00" * len(shard.read_bytes()))
    assert convert_main([str(ckpts / "iter_000000004"), str(tmp_path / "o"), "--no-progress"]) == 2
    assert "cannot be read" in _one_line_error(capsys)


def test_bare_dit_weights_and_standard_pointer_path(tmp_path):
    """Predict1-style files hold DiT keys without the net. prefix; the standard layout's pointer
    `<checkpoints>/iter_N.pt` resolves to `<checkpoints>/model/iter_N.pt`."""
    sd = {k[4:]: v for k, v in _model_state(ema=False).items()}
    torch.save(sd, tmp_path / "iter_000002000_ema_model.pt")
    assert convert_main([str(tmp_path / "iter_000002000_ema_model.pt"), str(tmp_path / "o"), "--no-progress"]) == 0
    fp32 = _load(tmp_path / "o" / "model_ema_fp32.pt")
    assert set(fp32) == {"net." + k for k in sd}
    (tmp_path / "ck" / "model").mkdir(parents=True)
    torch.save(_model_state(), tmp_path / "ck" / "model" / "iter_000000005.pt")
    assert convert_main([str(tmp_path / "ck" / "iter_000000005.pt"), str(tmp_path / "o2"), "--no-progress"]) == 0


def _sharded_save_worker(rank: int, port: int, path: str, full: dict) -> None:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    mesh = init_device_mesh("cpu", (2,))
    sharded = {k: distribute_tensor(v.clone(), mesh, [Shard(0)]) for k, v in full.items()}  # like FSDP2 params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save(sharded, checkpoint_id=path)
    dist.destroy_process_group()


def test_two_rank_sharded_checkpoint_is_consolidated(tmp_path):
    """A DCP checkpoint written by 2 ranks holding row shards (one .distcp file per rank) converts to the
    full tensors in a single process."""
    import socket

    import torch.multiprocessing as mp

    full = _model_state(seed=5)
    path = str(tmp_path / "iter_000000008" / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_sharded_save_worker, args=(port, path, full), nprocs=2, join=True, start_method="spawn")
    assert sorted(f for f in os.listdir(path) if f.endswith(".distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert convert_main([str(tmp_path / "iter_000000008"), str(tmp_path / "o"), "--no-progress"]) == 0
    got = _load(tmp_path / "o" / "model.pt")
    assert set(got) == set(full) and all(torch.equal(got[k], full[k]) for k in full)
