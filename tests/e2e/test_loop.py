"""From training to video on CPU: train a tiny experiment for 4 steps with the real CLI, convert its DCP
checkpoint with scripts/convert_distcp_to_pt.py, run the example scripts on it (2 sampling steps) and check
the videos' frame count, size and fps."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from cosmos_predict2.data.video_io import video_info

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable


def _env(out_root: str) -> dict:
    env = dict(os.environ, IMAGINAIRE_OUTPUT_ROOT=out_root, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    env.pop("COSMOS_DEBUG", None)
    return env


def _run(cmd: list[str], env: dict) -> str:
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def _train_and_convert(experiment: str, data: str, out_root: str, group: str, extra=(), convert_args=(),
                       name: str = "loop", cli: bool = False, iters: int = 4) -> str:
    """``iters`` training steps with a DCP save at the end, then the converter; returns the iteration folder (where
    the converted files are written)."""
    _run([PY, "-m", "scripts.train", "--", f"experiment={experiment}", f"trainer.max_iter={iters}",
          f"checkpoint.save_iter={iters}",
          f"dataloader_train.dataset.dataset_dir={data}", f"dataloader_val.dataset.dataset_dir={data}",
          "dataloader_train.num_workers=0", "model.config.precision=float32", "trainer.progress_bar=False",
          f"job.name={name}", *extra], _env(out_root))
    ckpts = os.path.join(out_root, "cosmos_predict2_tiny", group, name, "checkpoints")
    with open(os.path.join(ckpts, "latest_checkpoint.txt")) as f:
        it = os.path.join(ckpts, f.read().strip())
    assert os.path.isfile(os.path.join(it, "model", ".metadata"))
    argv = [os.path.join(it, "model"), it, "--no-progress", *convert_args]
    if cli:  # the real command line once; in-process afterwards (same code, no interpreter start-up)
        out = _run([PY, "scripts/convert_distcp_to_pt.py", *argv], _env(out_root))
    else:
        from scripts.convert_distcp_to_pt import main as convert_main

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert convert_main(argv) == 0
        out = buf.getvalue()
    for fname in ("model.pt", "model_ema_fp32.pt", "model_ema_bf16.pt"):
        assert fname in out and os.path.isfile(os.path.join(it, fname))
    full = torch.load(os.path.join(it, "model.pt"), weights_only=True)
    ema = torch.load(os.path.join(it, "model_ema_fp32.pt"), weights_only=True)
    assert any(k.startswith("net_ema.") for k in full)  # the tiny experiments train with EMA
    assert all(torch.equal(v, full["net_ema." + k[4:]]) for k, v in ema.items())
    return it


@pytest.fixture(scope="module")
def action_run(tmp_path_factory):
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_bridge_dataset

    root = tmp_path_factory.mktemp("loop_ac")
    data = str(root / "bridge")
    write_bridge_dataset(data, episodes=4, seed=0, split_ratio=(0.5, 0.25, 0.25), cfg=SyntheticConfig(frames=26))
    it = _train_and_convert("tiny_action_conditioned_bridge", data, str(root / "out"), "action_conditioned", cli=True)
    return data, it, root


def test_action_conditioned_example_on_trained_checkpoint(action_run):
    data, it, root = action_run
    out = root / "ac"
    _run([PY, "examples/action_conditioned.py", "-i", "assets/action_conditioned/basic/inference_params.json",
          "-o", str(out), "--checkpoint-path", os.path.join(it, "model_ema_bf16.pt"), "--experiment",
          "tiny_action_conditioned_bridge", "--num_steps", "2", "--input_root", data, "--save-fps", "4"], _env(str(root)))
    (ep,) = json.load(open(out / "basic_summary.json"))["episodes"]
    assert ep["num_actions"] == 25 and ep["num_frames"] == 26  # 12 + 12 + 1 actions -> 1 + 25 frames
    assert video_info(str(out / f"basic_{ep['episode']}.mp4")) == (26, 4.0, 64, 80)


def test_video2world_action_example_on_trained_checkpoint(action_run):
    data, it, root = action_run
    ann = os.path.join(data, "annotation", "test", "3.json")
    video = os.path.join(data, "videos", "test", "3", "rgb.mp4")
    save = str(root / "v2wa.mp4")
    # seed 000's flags; no --experiment: the config comes from the job folder the checkpoint sits in
    _run([PY, "-m", "examples.video2world_action", "--model_size", "2B",
          "--dit_path", os.path.join(it, "model.pt"), "--load_ema", "--input_video",
          video, "--input_annotation", ann, "--num_conditional_frames", "1", "--autoregressive", "--save_path", save,
          "--guidance", "0", "--seed", "0", "--num_steps", "2", "--disable_guardrail", "--disable_prompt_refiner"],
         _env(str(root)))
    # 25 actions: the short last chunk is dropped as upstream Predict2 does (--partial_chunk pad would give 26)
    assert video_info(save) == (25, 4.0, 64, 80)


def test_video2world_batch_on_trained_text_model(tmp_path):
    from cosmos_predict2.data.synthetic import SyntheticConfig, write_video_text_dataset

    data = str(tmp_path / "vt")
    write_video_text_dataset(data, episodes=2, seed=0, cfg=SyntheticConfig(frames=12))
    no_t5 = ["+dataloader_train.dataset.load_t5_embeddings=False", "+dataloader_val.dataset.load_t5_embeddings=False"]
    it = _train_and_convert("tiny_video2world_text", data, str(tmp_path / "out"), "video2world", extra=no_t5, iters=2)
    src = os.path.join(data, "videos", "ep_0000.mp4")
    jobs = [{"input_video": src, "prompt": "a gripper", "output_video": str(tmp_path / "o" / f"{i}.mp4")}
            for i in range(2)]
    (tmp_path / "batch.json").write_text(json.dumps(jobs))
    from cosmos_predict2.inference.cli import run_main
    from examples.video2world import main as v2w_main  # in-process (the CLI start-up is covered above)

    argv = ["--experiment", "tiny_video2world_text", "--dit_path", os.path.join(it, "model_ema_fp32.pt"),
            "--batch_input_json", str(tmp_path / "batch.json"), "--num_steps", "2", "--disable_guardrail",
            "--disable_prompt_refiner"]
    assert run_main(lambda: v2w_main(argv), "video2world.py") == 0
    for job in jobs:
        assert video_info(job["output_video"]) == (9, 8.0, 64, 80)


def test_lora_training_merge_and_direct_dcp_inference(action_run):
    """LoRA run -> DCP with adapters -> --merge-lora file; inference from the merged file equals inference from
    the DCP folder itself (adapters folded at load)."""
    from cosmos_predict2.data.bridge_episode import EpisodeSettings, load_bridge_episode
    from cosmos_predict2.inference.action_rollout import generate_chunk
    from cosmos_predict2.inference.loading import build_inference_model

    data, _, root = action_run
    it = _train_and_convert("tiny_action_conditioned_bridge", data, str(root / "out"), "action_conditioned",
                            extra=["model.config.train_architecture=lora"], convert_args=["--merge-lora"], name="lora",
                            iters=2)
    merged = torch.load(os.path.join(it, "model_ema_fp32.pt"), weights_only=True)
    assert merged and not any("lora_" in k for k in merged)
    ep = load_bridge_episode(os.path.join(data, "annotation", "test", "3.json"), EpisodeSettings(video_size=(64, 80)),
                             dataset_dir=data)
    videos = []
    for ckpt, ema in ((os.path.join(it, "model_ema_fp32.pt"), False), (it, True)):
        model, _ = build_inference_model("tiny_action_conditioned_bridge", ckpt, load_ema=ema, device="cpu")
        videos.append(generate_chunk(model, ep["frames"][0], ep["actions"][:12], num_steps=2, seed=0))
    assert np.abs(videos[0].astype(int) - videos[1].astype(int)).max() <= 1


def test_standard_checkpoint_from_trainer_converts(action_run, tmp_path):
    """ckpt_type=standard writes checkpoints/model/iter_N.pt; the converter takes the checkpoints folder."""
    data, _, root = action_run
    out_root = str(tmp_path)
    _run([PY, "-m", "scripts.train", "--", "experiment=tiny_action_conditioned_bridge", "trainer.max_iter=2",
          "checkpoint.save_iter=2", f"dataloader_train.dataset.dataset_dir={data}",
          f"dataloader_val.dataset.dataset_dir={data}", "dataloader_train.num_workers=0", "dataloader_train.batch_size=4",
          "model.config.precision=float32", "trainer.progress_bar=False", "job.name=std", "ckpt_type=standard"],
         _env(out_root))
    ckpts = os.path.join(out_root, "cosmos_predict2_tiny", "action_conditioned", "std", "checkpoints")
    assert os.path.isfile(os.path.join(ckpts, "model", "iter_000000002.pt"))
    from scripts.convert_distcp_to_pt import main as convert_main

    assert convert_main([ckpts, str(tmp_path / "conv"), "--no-progress"]) == 0
    full = torch.load(os.path.join(ckpts, "model", "iter_000000002.pt"), weights_only=True)
    ema = torch.load(str(tmp_path / "conv" / "model_ema_fp32.pt"), weights_only=True)
    assert ema and all(torch.equal(v, full["net_ema." + k[4:]]) for k, v in ema.items())


def test_diffusers_export_reads_the_job_config(action_run, tmp_path):
    """--format diffusers without --experiment: the net comes from the job's config.yaml; diffusers loads it."""
    from safetensors.torch import load_file

    from cosmos_predict2.models.diffusers_reference import patch_torchvision_resize
    from cosmos_predict2.models.key_maps import dit_key_to_diffusers
    from scripts.convert_distcp_to_pt import main as convert_main

    _, it, _ = action_run
    assert convert_main([os.path.join(it, "model"), str(tmp_path), "--format", "diffusers", "--no-progress"]) == 0
    ref = patch_torchvision_resize().CosmosTransformer3DModel.from_pretrained(str(tmp_path / "transformer"))
    ema = torch.load(os.path.join(it, "model_ema_fp32.pt"), weights_only=True)
    key = "blocks.0.self_attn.q_proj.weight"
    assert torch.equal(ref.state_dict()[dit_key_to_diffusers(key)], ema["net." + key])
    extra = load_file(str(tmp_path / "transformer" / "extra_action_weights.safetensors"))
    assert torch.equal(extra["action_embedder_B_D.fc1.weight"], ema["net.action_embedder_B_D.fc1.weight"])
