"""The example entry points in-process on the tiny CPU experiments (random weights, 2 sampling steps):
outputs (frames, size, fps, side files) and one-line errors before any model is built."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import torch

from cosmos_predict2.data.video_io import read_frames, video_info
from cosmos_predict2.inference.cli import run_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARAMS = os.path.join(ROOT, "assets", "action_conditioned", "basic", "inference_params.json")
BRIDGE = os.path.join(ROOT, "assets", "action_conditioned", "basic", "bridge")
EPISODE_VIDEO = os.path.join(BRIDGE, "videos", "test", "0", "rgb.mp4")
EPISODE_JSON = os.path.join(BRIDGE, "annotation", "test", "0.json")


def _random_checkpoint(experiment: str, path: str) -> str:
    from cosmos_predict2.configs.compose import compose_config
    from cosmos_predict2.lazy_config import instantiate

    cfg = compose_config("cosmos_predict2/configs/base/config.py", [f"experiment={experiment}"])
    torch.manual_seed(0)
    net = instantiate(cfg.model.config.net)
    torch.save({f"net.{k}": v for k, v in net.state_dict().items()}, path)
    return path


@pytest.fixture(scope="module")
def ac_ckpt(tmp_path_factory):
    return _random_checkpoint("tiny_action_conditioned_bridge", str(tmp_path_factory.mktemp("ac") / "model.pt"))


@pytest.fixture(scope="module")
def v2w_ckpt(tmp_path_factory):
    return _random_checkpoint("tiny_video2world_text", str(tmp_path_factory.mktemp("v2w") / "model.pt"))


def _run(main, argv, capsys, prog="x"):
    code = run_main(lambda: main(argv), prog)
    return code, capsys.readouterr()


def _psnr(a, b):
    return 10 * np.log10(255 ** 2 / max(((a.astype(float) - b.astype(float)) ** 2).mean(), 1e-9))


# ----------------------------------------------------------------------------- action_conditioned.py
def test_action_conditioned_single_chunk(ac_ckpt, tmp_path, capsys):
    from examples.action_conditioned import main

    code, _ = _run(main, ["-i", PARAMS, "-o", str(tmp_path), "--checkpoint-path", ac_ckpt, "--experiment",
                          "tiny_action_conditioned_bridge", "--num-steps", "2", "--single_chunk", "--side-by-side",
                          "--save_fps", "5"], capsys)
    assert code == 0
    n, fps, h, w = video_info(str(tmp_path / "basic_0.mp4"))
    assert (n, fps, h, w) == (13, 5.0, 64, 160)  # prediction | ground truth
    rec = json.load(open(tmp_path / "basic_0_metrics.json"))
    assert rec["num_frames"] == 13 and len(rec["per_frame"]["psnr"]) == 13
    assert rec["per_frame"]["psnr"][0] > 25  # frame 0 is the (decoded) conditioning frame
    assert json.load(open(tmp_path / "basic_summary.json"))["episodes"][0]["episode"] == "0"


def test_action_conditioned_errors_are_one_line(ac_ckpt, tmp_path, capsys):
    from examples.action_conditioned import main

    base = ["-i", PARAMS, "-o", str(tmp_path), "--checkpoint-path", ac_ckpt, "--experiment",
            "tiny_action_conditioned_bridge"]
    cases = [
        (["--num-stepz", "2"], "unknown field 'num_stepz'; did you mean 'num_steps'"),
        (["--context-parallel-size", "2"], "must be 1"),
        (["--chunk_size", "8"], "'chunk_size'=8 needs 9-frame clips"),
        (["--action_scaler", "10"], "'action_scaler'=10.0 but the experiment's training dataset has "
                                    "action_scaler=20.0"),
    ]
    for extra, match in cases:
        code, out = _run(main, base + extra, capsys)
        assert code == 2 and match in out.err and out.err.count("\n") == 1, out.err
    root = tmp_path / "nostate"
    (root / "annotation" / "test").mkdir(parents=True)
    ann = json.load(open(EPISODE_JSON))
    del ann["state"]
    (root / "annotation" / "test" / "3.json").write_text(json.dumps(ann))
    code, out = _run(main, base + ["--input_root", str(root)], capsys)
    assert code == 2 and "3.json: no 'state' field" in out.err and out.err.count("\n") == 1
    code, out = _run(main, ["-i", PARAMS, "--checkpoint-path", str(tmp_path / "nope.pt"), "--experiment",
                            "tiny_action_conditioned_bridge"], capsys)
    assert code == 2 and "does not exist" in out.err
    # the 2B experiment of the seed docs with the tiny file: the mismatch is reported before anything is built
    # (tests/unit/test_predict1_inference.py: a file that fits, whose VAE weights are missing)
    code, out = _run(main, ["-i", PARAMS, "--checkpoint-path", ac_ckpt, "--experiment",
                            "ac_reason_embeddings_rectified_flow_2b_256_320"], capsys)
    assert code == 2 and "does not fit the net" in out.err and "--experiment NAME" in out.err


def test_video2world_action_and_predict1_scripts(ac_ckpt, tmp_path, capsys):
    from cosmos_predict1.diffusion.inference.video2world_action import main as p1_main
    from examples.video2world_action import main

    argv = ["--experiment", "tiny_action_conditioned_bridge", "--dit_path", ac_ckpt, "--input_video", EPISODE_VIDEO,
            "--input_annotation", EPISODE_JSON, "--num_steps", "2", "--guidance", "0",
            "--save_path", str(tmp_path / "a.mp4")]
    code, out = _run(main, argv, capsys)
    assert code == 2 and "--disable_guardrail" in out.err  # guardrail on by default, files absent: fail early
    code, _ = _run(main, argv + ["--disable_guardrail", "--disable_prompt_refiner"], capsys)
    assert code == 0 and video_info(str(tmp_path / "a.mp4"))[:2] == (13, 4.0)

    ckdir = tmp_path / "checkpoints" / "Tiny-Action"
    ckdir.mkdir(parents=True)
    p1 = ["--checkpoint_dir", str(tmp_path / "checkpoints"), "--diffusion_transformer_dir", "Tiny-Action",
          "--experiment", "tiny_action_conditioned_bridge", "--num_input_frames", "13", "--num_of_loops", "1",
          "--input_image_or_video_path", EPISODE_VIDEO, "--action_annotation_path", EPISODE_JSON, "--height", "64",
          "--width", "80", "--fps", "3", "--num_steps", "2", "--video_save_folder", str(tmp_path / "p1")]
    code, out = _run(p1_main, p1, capsys)
    assert code == 2 and "Tiny-Action/model.pt" in out.err
    os.symlink(ac_ckpt, ckdir / "model.pt")
    code, _ = _run(p1_main, p1, capsys)
    assert code == 0 and video_info(str(tmp_path / "p1" / "output.mp4"))[:2] == (13, 3.0)


def test_partial_last_chunk_follows_each_scripts_upstream(ac_ckpt, tmp_path, capsys):
    """The asset episode has 29 actions (12 + 12 + 5). video2world_action.py drops the short chunk by default
    (upstream Predict2): 25 frames; action_conditioned.py zero-pads it by default (upstream Predict2.5): 30
    frames. Each script offers the other behaviour as an explicit option."""
    from examples.action_conditioned import main as ac_main
    from examples.video2world_action import main as v2wa_main

    base = ["--experiment", "tiny_action_conditioned_bridge", "--dit_path", ac_ckpt, "--input_video", EPISODE_VIDEO,
            "--input_annotation", EPISODE_JSON, "--num_steps", "1", "--guidance", "0", "--autoregressive",
            "--disable_guardrail", "--disable_prompt_refiner"]
    code, _ = _run(v2wa_main, base + ["--save_path", str(tmp_path / "drop.mp4")], capsys)
    assert code == 0 and video_info(str(tmp_path / "drop.mp4"))[0] == 25
    code, _ = _run(v2wa_main, base + ["--save_path", str(tmp_path / "pad.mp4"), "--partial_chunk", "pad"], capsys)
    assert code == 0 and video_info(str(tmp_path / "pad.mp4"))[0] == 30

    ac = ["-i", PARAMS, "--checkpoint-path", ac_ckpt, "--experiment", "tiny_action_conditioned_bridge",
          "--num-steps", "1", "--end", "1"]
    code, _ = _run(ac_main, ac + ["-o", str(tmp_path / "ac_pad")], capsys)
    rec = json.load(open(tmp_path / "ac_pad" / "basic_0_metrics.json"))
    assert code == 0 and rec["num_frames"] == 30 and rec["partial_chunk"] == "pad"
    code, _ = _run(ac_main, ac + ["-o", str(tmp_path / "ac_drop"), "--partial_chunk", "drop"], capsys)
    rec = json.load(open(tmp_path / "ac_drop" / "basic_0_metrics.json"))
    assert code == 0 and rec["num_frames"] == 25 and rec["partial_chunk"] == "drop"
    assert video_info(str(tmp_path / "ac_drop" / "basic_0.mp4"))[0] == 25
    code, out = _run(ac_main, ac + ["-o", str(tmp_path / "bad"), "--partial_chunk", "trim"], capsys)
    assert code == 2 and "field 'partial_chunk'='trim'" in out.err


# ----------------------------------------------------------------------------- video2world*.py
@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    from cosmos_predict2.text_encoders.tiny_t5 import save_tiny_t5

    return save_tiny_t5(str(tmp_path_factory.mktemp("t5")), d_model=64)


def test_video2world_prompts_batch_and_five_frame_conditioning(v2w_ckpt, tiny_t5, tmp_path, capsys):
    from examples.video2world import main

    jobs = [{"input_video": EPISODE_VIDEO, "prompt": p, "output_video": str(tmp_path / f"{i}.mp4")}
            for i, p in enumerate(["a red block", "a green gripper moving left"])]
    (tmp_path / "batch.json").write_text(json.dumps(jobs))
    code, out = _run(main, ["--experiment", "tiny_video2world_text", "--dit_path", v2w_ckpt, "--text_encoder_path",
                            tiny_t5, "--batch_input_json", str(tmp_path / "batch.json"), "--num_steps", "2",
                            "--num_conditional_frmaes", "5", "--guidance", "1", "--disable_guardrail",
                            "--disable_prompt_refiner"], capsys)
    assert code == 0, out.err
    a = read_frames(str(tmp_path / "0.mp4"), range(9))
    b = read_frames(str(tmp_path / "1.mp4"), range(9))
    assert a.shape == (9, 64, 80, 3) and video_info(str(tmp_path / "0.mp4"))[1] == 8.0
    assert not np.array_equal(a, b)  # the prompt reaches the net
    src = read_frames(EPISODE_VIDEO, range(25, 30))  # the last 5 input frames condition the clip
    assert min(_psnr(a[k], src[k]) for k in range(5)) > 20  # two mp4 round trips + the lossy tiny tokenizer


def test_video2world_image_input_and_errors(v2w_ckpt, tmp_path, capsys):
    import imageio.v2 as imageio

    from examples.video2world import main

    img = read_frames(EPISODE_VIDEO, [0])[0]
    imageio.imwrite(tmp_path / "f.png", img)
    common = ["--experiment", "tiny_video2world_text", "--dit_path", v2w_ckpt, "--num_steps", "2"]
    code, out = _run(main, common + ["--input_path", str(tmp_path / "f.png"), "--disable_prompt_refiner"], capsys)
    assert code == 2 and "--disable_guardrail" in out.err and out.err.count("\n") == 1
    code, out = _run(main, common + ["--input_path", str(tmp_path / "f.png"), "--disable_guardrail"], capsys)
    assert code == 2 and "--disable_prompt_refiner" in out.err
    code, _ = _run(main, common + ["--input_path", str(tmp_path / "f.png"), "--disable_guardrail",
                                   "--disable_prompt_refiner", "--save_path", str(tmp_path / "o.mp4")], capsys)
    out_frames = read_frames(str(tmp_path / "o.mp4"), range(9))
    assert code == 0 and _psnr(out_frames[0], img) > 25


def test_guardrail_blocks_prompt_when_enabled(v2w_ckpt, tmp_path, capsys):
    from examples.video2world import main

    (tmp_path / "g" / "blocklist").mkdir(parents=True)
    (tmp_path / "g" / "blocklist" / "words.txt").write_text("# test list\nforbiddenword\n")
    code, out = _run(main, ["--experiment", "tiny_video2world_text", "--dit_path", v2w_ckpt, "--num_steps", "2",
                            "--input_path", EPISODE_VIDEO, "--prompt", "a ForbiddenWord here", "--guardrail_dir",
                            str(tmp_path / "g"), "--disable_prompt_refiner"], capsys)
    assert code == 2 and "blocked" in out.err and "forbiddenword" in out.err.lower()


def test_gr00t_and_best_of_n(v2w_ckpt, tmp_path, capsys):
    from examples.video2world_bestofn import main as bon_main
    from examples.video2world_gr00t import main as gr_main

    common = ["--experiment", "tiny_video2world_text", "--dit_path", v2w_ckpt, "--num_steps", "2",
              "--input_path", EPISODE_VIDEO, "--prompt", "pick the block", "--disable_guardrail"]
    code, out = _run(gr_main, common + ["--gr00t_variant", "gr1", "--save_path", str(tmp_path / "gr" / "v.mp4")], capsys)
    assert code == 0, out.err
    meta = json.load(open(tmp_path / "gr" / "v.txt"))
    assert meta["prompt"] == "The robot arm is performing a task. pick the block" and meta["negative_prompt"]

    save = tmp_path / "bon"
    code, out = _run(bon_main, common + ["--disable_prompt_refiner", "--num_generations", "2", "--critic",
                                         "heuristic", "--save_path", str(save)], capsys)
    assert code == 0, out.err
    assert "ranked by: heuristic critic (--critic heuristic)" in out.out.splitlines()[-1]
    videos = sorted(glob.glob(str(save / "*.mp4")))
    assert [os.path.basename(v) for v in videos] == ["rgb_seed0.mp4", "rgb_seed1.mp4"]
    for v in videos:
        (score_file,) = glob.glob(v[:-4] + "_score*.json")
        rec = json.load(open(score_file))
        assert score_file.endswith(f"_score{int(round(rec['score'] * 100)):03d}.json") and 0 <= rec["score"] <= 1
        assert rec["ranked_by"] == "heuristic critic (--critic heuristic)"
    assert (save / "report.html").read_text().count("<video") == 2
    code, _ = _run(bon_main, ["--skip_generation", "--critic", "heuristic", "--save_path", str(save)], capsys)
    assert code == 0 and len(glob.glob(str(save / "*_score*.json"))) == 2
    code, out = _run(bon_main, ["--skip_generation", "--critic", "vlm", "--checkpoint_dir", str(tmp_path / "none"),
                                "--save_path", str(save)], capsys)
    assert code == 2 and "--critic heuristic" in out.err


def test_heuristic_critic_prefers_clean_video():
    from cosmos_predict2.inference.critic import heuristic_scores

    frames = read_frames(EPISODE_VIDEO, range(30))
    clean = heuristic_scores(frames)["score"]
    flicker = frames.copy()
    flicker[1::2] = (flicker[1::2].astype(int) // 3).astype(np.uint8)  # every other frame much darker
    frozen = np.repeat(frames[:1], 30, axis=0)
    blurred = frames.copy()
    blurred[15:] = blurred[15:].mean(axis=(1, 2), keepdims=True).astype(np.uint8)  # detail vanishes
    assert clean > heuristic_scores(flicker)["score"]
    assert clean > heuristic_scores(frozen)["score"]
    assert clean > heuristic_scores(blurred)["score"]


def test_missing_text_encoder_is_reported_before_the_model(v2w_ckpt, tmp_path, capsys):
    from examples.video2world import main

    code, out = _run(main, ["--experiment", "tiny_video2world_text", "--dit_path", v2w_ckpt, "--input_path",
                            EPISODE_VIDEO, "--text_encoder_path", str(tmp_path / "no_t5"), "--disable_guardrail",
                            "--disable_prompt_refiner"], capsys)
    assert code == 2 and "no_t5 not found" in out.err and out.err.count("\n") == 1


def test_critic_answer_parsing_and_auto_choice(tmp_path):
    from cosmos_predict2.inference.critic import HeuristicCritic, VLMCritic, make_critic, parse_answer

    assert parse_answer("<think>looks fine</think> <answer> No </answer>") == "no"
    assert parse_answer("<answer>yes</answer> trailing") == "yes" and parse_answer("maybe") is None
    assert isinstance(make_critic("auto", None), HeuristicCritic)
    fallback = make_critic("auto", str(tmp_path))  # no model there
    assert isinstance(fallback, HeuristicCritic)
    assert fallback.description == f"heuristic critic (no Cosmos-Reason1 model found at {tmp_path})"
    (tmp_path / "config.json").write_text("{}")
    critic = make_critic("auto", str(tmp_path), num_trials=3)
    assert isinstance(critic, VLMCritic) and critic.num_trials == 3 and critic._m is None  # loaded lazily
    assert critic.description == f"vision-language model critic ({tmp_path})"
