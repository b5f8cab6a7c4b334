"""The MuJoCo robot-arm dataset generator (scripts/prepare_sim_data.py): a valid Bridge-layout set whose states
match the rendered arm, deterministic, resumable, with one-line errors.

Needs the ``[sim]`` extra and an offscreen renderer (libOSMesa). Without them the tests are skipped with the
reason, except where COSMOS_REQUIRE_SIM=1 (CI sets it), where a missing simulator fails them.
"""

from __future__ import annotations

import filecmp
import json
import os

import numpy as np
import pytest

from cosmos_predict2.data.sim_env import SimUnavailable, require_simulator

try:
    require_simulator()
    _MISSING = None
except SimUnavailable as e:
    _MISSING = str(e)

if _MISSING and os.environ.get("COSMOS_REQUIRE_SIM") == "1":
    raise RuntimeError(f"COSMOS_REQUIRE_SIM=1 but {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"simulator unavailable: {_MISSING}")

SMALL = ["--episodes", "3", "--val-episodes", "1", "--test-episodes", "1", "--frames", "9",
         "--tasks", "push-v3,reach-v3", "--camera", "corner3", "--height", "128", "--width", "160"]


def _make(out, *extra, workers=1) -> int:
    from scripts.prepare_sim_data import main

    return main(["--out", str(out), *SMALL, "--workers", str(workers), *extra])


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "a"
    assert _make(out) == 0
    return out


def _files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_valid_bridge_layout_that_the_training_dataset_reads(made):
    from cosmos_predict2.data.bridge import BridgeActionDataset
    from scripts.validate_dataset import main as validate

    assert validate([str(made)]) == 0
    info = json.loads((made / "dataset_info.json").read_text())
    assert info["complete"] and info["splits"] == {"train": 3, "val": 1, "test": 1}
    assert info["config"]["camera"] == "corner3" and info["config"]["tasks"] == ["push-v3", "reach-v3"]
    assert info["simulator"]["mujoco"] and info["simulator"]["metaworld"]
    ann = json.loads((made / "annotation" / "train" / "1.json").read_text())
    assert np.asarray(ann["state"]).shape == (9, 6) and len(ann["continuous_gripper_state"]) == 9
    assert np.asarray(ann["action"]).shape == (8, 7) and ann["sim"]["task"] == "reach-v3"
    ds = BridgeActionDataset(dataset_dir=str(made), mode="train", num_frames=5, video_size=(64, 80), preflight="off")
    sample = ds[0]
    assert sample["video"].shape == (3, 5, 64, 80)  # resized to the experiment's size and sample["action"].shape == (4, 7)


def test_same_seed_same_bytes_with_any_worker_count(made, tmp_path):
    other = tmp_path / "b"
    assert _make(other, workers=2) == 0
    files = _files(made)
    assert files == _files(other)
    match, mismatch, errors = filecmp.cmpfiles(made, other, files, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)
    third = tmp_path / "c"  # another seed and view in the same process (environments are reused per view)
    assert _make(third, "--seed", "1", "--height", "64", "--width", "80") == 0
    assert not filecmp.cmp(made / "annotation" / "train" / "0.json", third / "annotation" / "train" / "0.json",
                           shallow=False)
    from cosmos_predict2.data.video_io import video_info

    assert video_info(third / "videos" / "train" / "0" / "rgb.mp4") == (9, 20.0, 64, 80)
    assert video_info(made / "videos" / "train" / "0" / "rgb.mp4") == (9, 20.0, 128, 160)


def test_interrupted_run_continues_and_other_settings_are_refused(made, tmp_path, capsys):
    import shutil

    out = tmp_path / "resume"
    shutil.copytree(made, out)
    os.remove(out / "annotation" / "train" / "2.json")  # the episode being written when the run stopped
    (out / "videos" / "train" / "2" / ".tmp-1-rgb.mp4").write_bytes(b"partial")
    capsys.readouterr()
    assert _make(out) == 0
    assert "wrote 1 episodes (4 already there)" in capsys.readouterr().out
    assert filecmp.cmp(made / "annotation" / "train" / "2.json", out / "annotation" / "train" / "2.json",
                       shallow=False)
    assert _make(out, "--noise", "0.1") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "noise=0.3 (now 0.1)" in err and str(out) in err


def test_bad_flags_get_one_line(tmp_path, capsys):
    from scripts.prepare_sim_data import main

    assert main(["--out", str(tmp_path / "x"), "--tasks", "psh-v3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "psh-v3" in err and "push-v3" in err and "\n" not in err
    assert main(["--out", str(tmp_path / "x"), "--tasks", "push-v3", "--camera", "front"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'front'" in err and "corner3" in err and "\n" not in err
    assert not (tmp_path / "x" / "annotation").exists()


def test_dataset_actions_move_the_rendered_arm_as_the_states_say(made):
    """The arm's pixels (MuJoCo's segmentation render of the hand) sit where the dataset's states project, and the
    actions the training dataset computes from those states, integrated from the first frame, lead to the same
    image positions; the mp4 shows the rendered frames."""
    from cosmos_predict2.data.actions import states_from_actions
    from cosmos_predict2.data.bridge import BridgeActionDataset
    from cosmos_predict2.data.sim_env import SimCamera, make_env
    from cosmos_predict2.data.sim_episode import SimConfig, simulate_episode
    from cosmos_predict2.data.video_io import read_frames
    from cosmos_predict2.evaluation.metrics import psnr_per_frame

    ann = json.loads((made / "annotation" / "train" / "0.json").read_text())
    info = json.loads((made / "dataset_info.json").read_text())["config"]
    cfg = SimConfig(**{k: tuple(v) if k == "tasks" else v for k, v in info.items() if k != "fps"})
    env = make_env(ann["sim"]["task"])
    cam = SimCamera(env, cfg.camera, cfg.height, cfg.width, cfg.shadow_size, cfg.supersample)
    assert cam.upside_down  # corner3 looks down with its up axis below the horizon
    ep = simulate_episode(ann["sim"]["task"], ann["sim"]["episode_seed"], cfg, env=env, camera=cam,
                          with_hand_masks=True)
    state = np.asarray(ann["state"])
    np.testing.assert_allclose(ep.state, state, atol=1e-6)  # the JSON holds this run's states

    video = read_frames(str(made / ann["videos"][0]["video_path"]), list(range(cfg.frames)))
    assert psnr_per_frame(video, ep.frames).min() > 30.0  # the mp4 shows the rendered frames (H.264 loss only)

    # Upright images: a point 20 cm above the gripper is higher in the image.
    above = cam.project(np.stack([state[0, :3], state[0, :3] + [0, 0, 0.2]]))
    assert above[1, 1] < above[0, 1] - 3

    ds = BridgeActionDataset(dataset_dir=str(made), mode="train", num_frames=cfg.frames, video_size=None,
                             preflight="off")
    index = next(i for i in range(len(ds)) if ds.sample_key(i) == ann["episode_id"] and ds.samples[i][1] == 0)
    action = ds[index]["action"].numpy().astype(np.float64)  # (T-1, 7), scaled by the dataset's action_scaler
    poses = states_from_actions(state[0], action, scaler=ds.settings.action_scaler)  # (T, 6)
    np.testing.assert_allclose(poses[:, :3], state[:, :3], atol=1e-5)

    proj = cam.project(poses[:, :3])  # (T, 2) column, row
    centroids = []
    for t, mask in enumerate(ep.hand_masks):
        rows, cols = np.nonzero(mask)
        assert len(rows) > 0, f"the hand is not visible in frame {t}"
        dist = np.hypot(cols + 0.5 - proj[t, 0], rows + 0.5 - proj[t, 1]).min()
        assert dist < 3.0, f"frame {t}: the projected state is {dist:.1f} px from the hand"
        centroids.append([cols.mean() + 0.5, rows.mean() + 0.5])
    t = int(np.argmax(np.linalg.norm(proj - proj[0], axis=1)))  # the frame the states put farthest from the start
    moved, projected = np.asarray(centroids[t]) - centroids[0], proj[t] - proj[0]
    assert np.linalg.norm(moved) > 4  # the arm moved across the image
    assert np.dot(moved, projected) / (np.linalg.norm(moved) * np.linalg.norm(projected)) > 0.9
