"""The Predict1 guide's inference line (cosmos_predict1/diffusion/inference/video2world_action.py) on the tiny CPU
experiment: the stray ``\\ `` token, ``--config_file <job>/config.yaml``, and the one-line error (exit 2) for a
weights file that does not fit the experiment's net, given before anything is built."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from cosmos_predict2.data.video_io import video_info
from cosmos_predict2.inference.cli import clean_argv, run_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRIDGE = os.path.join(ROOT, "assets", "action_conditioned", "basic", "bridge")
EPISODE_VIDEO = os.path.join(BRIDGE, "videos", "test", "0", "rgb.mp4")
EPISODE_JSON = os.path.join(BRIDGE, "annotation", "test", "0.json")
PARAMS = os.path.join(ROOT, "assets", "action_conditioned", "basic", "inference_params.json")
TINY = "tiny_action_conditioned_bridge"


def _config(experiment):
    from cosmos_predict2.configs.compose import compose_config

    return compose_config("cosmos_predict2/configs/base/config.py", [f"experiment={experiment}"])


@pytest.fixture(scope="module")
def tiny_job(tmp_path_factory):
    """A tiny training job's config.yaml and its weights copied where the guide copies them (no config above)."""
    from cosmos_predict2.configs.compose import write_config_yaml
    from cosmos_predict2.lazy_config import instantiate

    root = tmp_path_factory.mktemp("p1")
    cfg = _config(TINY)
    torch.manual_seed(0)
    net = instantiate(cfg.model.config.net)
    job_yaml = write_config_yaml(cfg, str(root / "job"))
    weights = root / "checkpoints" / "Cosmos-Predict1-7B-Video2World_action_post-trained" / "model.pt"
    weights.parent.mkdir(parents=True)
    torch.save({f"net.{k}": v for k, v in net.state_dict().items()}, weights)
    return {"yaml": job_yaml, "checkpoint_dir": str(root / "checkpoints"), "weights": str(weights), "root": root}


def _guide_argv(checkpoint_dir, out_dir, stray=True):
    """The guide's command line; with ``stray`` the ``\\ `` glued onto --action_annotation_path as the shell does."""
    flag = " --action_annotation_path" if stray else "--action_annotation_path"
    return ["--checkpoint_dir", checkpoint_dir, "--diffusion_transformer_dir",
            "Cosmos-Predict1-7B-Video2World_action_post-trained", "--seed", "0", "--input_image_or_video_path",
            EPISODE_VIDEO, flag, EPISODE_JSON, "--height", "64", "--width", "80", "--fps", "3",
            "--video_save_folder", out_dir]


def _run(argv, capsys):
    from cosmos_predict1.diffusion.inference.video2world_action import main

    code = run_main(lambda: main(argv), "video2world_action.py")
    return code, capsys.readouterr()


def test_clean_argv_strips_the_glued_space_only_from_flags():
    argv = ["--a", "x", " --action_annotation_path", "f.json", "  --b=1", " value with space", "\t--c"]
    assert clean_argv(argv) == ["--a", "x", "--action_annotation_path", "f.json", "--b=1", " value with space", "--c"]


def test_guide_line_with_stray_space_and_job_config_yaml(tiny_job, tmp_path, capsys):
    argv = _guide_argv(tiny_job["checkpoint_dir"], str(tmp_path / "out")) + [
        "--config_file", tiny_job["yaml"], "--num_input_frames", "13", "--num_of_loops", "1", "--num_steps", "1"]
    code, out = _run(argv, capsys)
    assert code == 0, out.err
    assert video_info(str(tmp_path / "out" / "output.mp4"))[:2] == (13, 3.0)
    # a yaml that is not there, or not a job config: one line, exit 2
    code, out = _run(argv[:-8] + ["--config_file", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "nope.yaml does not exist" in out.err and out.err.count("\n") == 1
    (tmp_path / "other.yaml").write_text("a: 1\n")
    code, out = _run(argv[:-8] + ["--config_file", str(tmp_path / "other.yaml")], capsys)
    assert code == 2 and "no model.config.net" in out.err and out.err.count("\n") == 1


def test_weights_of_another_net_fail_before_the_build_with_the_fix(tiny_job, tmp_path, capsys, monkeypatch):
    """The tiny run's model.pt with the default (7B) experiment: one line naming the file, a key with both shapes
    and the two flags that fix it, before any model or tokenizer file is touched."""
    from cosmos_predict2.pipelines import video2world_model

    def no_build(*args, **kwargs):
        raise AssertionError("the model must not be built")

    monkeypatch.setattr(video2world_model.Video2WorldModel, "__init__", no_build)
    code, out = _run(_guide_argv(tiny_job["checkpoint_dir"], str(tmp_path / "out")), capsys)
    err = out.err
    assert code == 2 and err.count("\n") == 1, err
    assert tiny_job["weights"] in err and "video2world_action_bridge_2frames" in err
    assert ": file (" in err and ") vs net (" in err
    assert "--experiment NAME" in err and "--config_file <job>/config.yaml" in err
    assert "tokenizer" not in err.lower()  # the Tokenize1 files are absent here too: the mismatch comes first


def test_fitting_file_then_missing_tokenizer_is_reported(tmp_path, capsys):
    """A file that fits the 2B net (shape-only, meta tensors: nothing allocated) gets to the tokenizer check."""
    from examples.action_conditioned import main
    from cosmos_predict2.lazy_config import instantiate

    experiment = "ac_reason_embeddings_rectified_flow_2b_256_320"
    with torch.device("meta"):
        net = instantiate(_config(experiment).model.config.net)
    path = str(tmp_path / "shapes_only.pt")
    torch.save({f"net.{k}": v for k, v in net.state_dict().items()}, path)
    code = run_main(lambda: main(["-i", PARAMS, "--checkpoint-path", path, "--experiment", experiment]), "x")
    err = capsys.readouterr().err
    assert code == 2 and "tokenizer weights" in err and "--tokenizer-path" in err and err.count("\n") == 1


def test_other_inference_scripts_take_the_job_yaml_too(tiny_job, tmp_path, capsys):
    """examples/action_conditioned.py reads --config-file <job>/config.yaml through the same loader path."""
    from examples.action_conditioned import main

    argv = ["-i", PARAMS, "-o", str(tmp_path / "ac"), "--checkpoint-path", tiny_job["weights"], "--config-file",
            tiny_job["yaml"], "--num-steps", "1", "--single_chunk"]
    code = run_main(lambda: main(argv), "action_conditioned.py")
    assert code == 0, capsys.readouterr().err
    assert video_info(str(tmp_path / "ac" / "basic_0.mp4"))[0] == 13


def test_job_config_next_to_the_checkpoint_is_found(tiny_job, tmp_path, capsys):
    """Without --experiment / --config_file, the training job's config.yaml above the weights is used."""
    job = tmp_path / "job"
    shutil.copytree(os.path.dirname(tiny_job["yaml"]), job)
    ck = job / "checkpoints" / "Tiny"
    ck.mkdir(parents=True)
    shutil.copy(tiny_job["weights"], ck / "model.pt")
    argv = _guide_argv(str(job / "checkpoints"), str(tmp_path / "out"), stray=False)
    argv[argv.index("--diffusion_transformer_dir") + 1] = "Tiny"
    # --num_of_loops 0: the whole episode (what upstream's pipeline does): 29 actions -> 30 frames
    code, out = _run(argv + ["--num_input_frames", "13", "--num_of_loops", "0", "--num_steps", "1"], capsys)
    assert code == 0, out.err
    assert video_info(str(tmp_path / "out" / "output.mp4"))[0] == 30
