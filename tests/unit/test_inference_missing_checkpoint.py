"""A --dit_path that does not exist: seed 000's line quotes the ``${now:...}`` job-name template, which the shell
expands to nothing; the error names the job folders that do exist."""

import os
import subprocess

import pytest

from cosmos_predict2.inference.loading import InferenceSetupError, build_inference_model

GUIDE = ("checkpoints/posttraining/video2world/action_conditional_predict2_video2world_2b_training_"
         "${now:%Y-%m-%d}_${now:%H-%M-%S}/checkpoints/model/iter_000001000.pt")


def test_now_template_in_the_path_names_the_existing_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = "action_conditional_predict2_video2world_2b_training_2026-12-01_18-13-25"
    os.makedirs(f"checkpoints/posttraining/video2world/{run}/checkpoints/model")
    as_shell_passes_it = subprocess.run(["bash", "-c", f'echo "{GUIDE}"'], capture_output=True, text=True).stdout.strip()
    for path in (as_shell_passes_it, GUIDE):
        with pytest.raises(InferenceSetupError, match=f"does not exist; the job folder name is a .*{run}"):
            build_inference_model("action_conditional_predict2_video2world_2b_training", path)
    with pytest.raises(InferenceSetupError, match="does not exist; convert a training checkpoint"):
        build_inference_model("action_conditional_predict2_video2world_2b_training", "checkpoints/other.pt")


def test_a_job_folder_of_another_name_holding_the_file_is_named(tmp_path, monkeypatch):
    """Seed 003's inference line names ``predict2_video2world_training_2b_agibot...`` while the experiment writes
    ``2b_agibot_head_center_fisheye_color``: the error points at the file that exists."""
    monkeypatch.chdir(tmp_path)
    real = "checkpoints/posttraining/video2world/2b_agibot_head_center_fisheye_color/checkpoints/model"
    os.makedirs(real)
    open(f"{real}/iter_000001000.pt", "wb").close()
    guide = ("checkpoints/posttraining/video2world/predict2_video2world_training_2b_agibot_head_center_fisheye_color/"
             "checkpoints/model/iter_000001000.pt")
    with pytest.raises(InferenceSetupError, match=f"no job folder .*; the same file exists in {real}/iter_000001000.pt"):
        build_inference_model("predict2_video2world_training_2b_agibot_head_center_fisheye_color", guide)
