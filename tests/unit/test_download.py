"""scripts/download_checkpoints.py with an injected downloader (a local folder standing in for the Hub)."""

from __future__ import annotations

import fnmatch
import os
import shutil
import types

import pytest
from huggingface_hub.errors import GatedRepoError

from scripts.download_checkpoints import main as download_main


@pytest.fixture
def fake_hub(tmp_path):
    """A local 'hub': <hub>/<owner>/<repo>/<files> and a downloader that copies matching files (skipping done ones)."""
    hub = tmp_path / "hub"
    files = {
        "nvidia/Cosmos-Predict2-2B-Video2World": ["model-720p-16fps.pt", "model-480p-10fps.pt", "tokenizer/tokenizer.pth",
                                                  "README.md"],
        "nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned": ["model-480p-4fps.pt"],
        "google-t5/t5-11b": ["config.json", "spiece.model", "pytorch_model.bin", "tf_model.h5"],
    }
    for repo, names in files.items():
        for name in names:
            path = hub / repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{repo}/{name}")
    calls = []

    def download(repo_id, allow_patterns, local_dir, token):
        calls.append((repo_id, tuple(allow_patterns)))
        if repo_id.endswith("GR00T-Dreams-GR1"):
            response = types.SimpleNamespace(status_code=403, headers={}, request=None)  # what the Hub answers
            raise GatedRepoError("403 Client Error: access to this model is restricted", response=response)
        src = hub / repo_id
        for root, _, names in os.walk(src):
            for name in names:
                rel = os.path.relpath(os.path.join(root, name), src)
                if any(fnmatch.fnmatch(rel, p) for p in allow_patterns):
                    dst = os.path.join(local_dir, rel)
                    if not os.path.exists(dst):
                        os.makedirs(os.path.dirname(dst), exist_ok=True)
                        shutil.copy(os.path.join(root, name), dst)
        return local_dir

    return download, calls


def test_downloads_dit_vae_t5_into_checkpoint_layout(fake_hub, tmp_path):
    download, calls = fake_hub
    ck = tmp_path / "checkpoints"
    argv = ["--model_sizes", "2B", "--model_types", "Video2World", "Video2World-Action", "--checkpoint_dir", str(ck)]
    assert download_main(argv, download_fn=download) == 0
    base = ck / "nvidia" / "Cosmos-Predict2-2B-Video2World"
    assert (base / "model-720p-16fps.pt").is_file() and (base / "tokenizer" / "tokenizer.pth").is_file()
    assert not (base / "model-480p-10fps.pt").exists() and not (base / "README.md").exists()
    assert (ck / "nvidia" / "Cosmos-Predict2-2B-Sample-Action-Conditioned" / "model-480p-4fps.pt").is_file()
    t5 = ck / "google-t5" / "t5-11b"
    assert (t5 / "config.json").is_file() and (t5 / "pytorch_model.bin").is_file() and not (t5 / "tf_model.h5").exists()
    assert [c[0] for c in calls].count("nvidia/Cosmos-Predict2-2B-Video2World") == 1  # one request per repo
    # resumable: a second run fetches nothing new and succeeds
    assert download_main(argv, download_fn=download) == 0


def test_dry_run_downloads_nothing(fake_hub, tmp_path, capsys):
    download, calls = fake_hub
    argv = ["--model_sizes", "2B", "14B", "--model_types", "Video2World", "--checkpoint_dir", str(tmp_path / "c"),
            "--dry-run"]
    assert download_main(argv, download_fn=download) == 0
    out = capsys.readouterr().out
    assert not calls and "Cosmos-Predict2-14B-Video2World" in out and "t5-11b" in out
    assert not (tmp_path / "c").exists()


def test_gated_repo_is_a_one_line_message(fake_hub, tmp_path, capsys):
    download, _ = fake_hub
    argv = ["--model_sizes", "2B", "--model_types", "GR00T-GR1", "--checkpoint_dir", str(tmp_path / "c"), "--no_t5"]
    assert download_main(argv, download_fn=download) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "gated" in err and "huggingface-cli login" in err and "GR00T-Dreams-GR1" in err


def test_impossible_combination_is_an_error(fake_hub, tmp_path, capsys):
    download, _ = fake_hub
    assert download_main(["--model_sizes", "14B", "--model_types", "Video2World-Action", "--checkpoint_dir",
                          str(tmp_path)], download_fn=download) == 2
    assert "only for 2B" in capsys.readouterr().err


# ----------------------------------------------------------------------------- Predict1 script + config coverage
def _recorder():
    calls = []

    def download(repo_id, allow_patterns, local_dir, token, revision=None):
        calls.append((repo_id, tuple(allow_patterns), local_dir, revision))
        return local_dir

    return download, calls


def test_predict1_script_plans_what_the_guide_needs(tmp_path, capsys):
    """The Predict1 guide's line: the 7B Video2World DiT, the Cosmos-Tokenize1 tokenizer, T5 and the guardrail."""
    from scripts.download_diffusion_checkpoints import main as p1_main

    download, calls = _recorder()
    ck = str(tmp_path / "checkpoints")
    assert p1_main(["--model_sizes", "7B", "--model_types", "Video2World", "--checkpoint_dir", ck],
                   download_fn=download) == 0
    got = {repo: (patterns, local_dir) for repo, patterns, local_dir, _ in calls}
    assert list(got) == ["nvidia/Cosmos-Predict1-7B-Video2World", "nvidia/Cosmos-Tokenize1-CV8x8x8-720p",
                         "nvidia/Cosmos-Guardrail1", "google-t5/t5-11b"]
    assert "model.pt" in got["nvidia/Cosmos-Predict1-7B-Video2World"][0]
    assert set(got["nvidia/Cosmos-Tokenize1-CV8x8x8-720p"][0]) >= {"encoder.jit", "decoder.jit", "mean_std.pt"}
    assert got["nvidia/Cosmos-Predict1-7B-Video2World"][1] == os.path.join(ck, "nvidia", "Cosmos-Predict1-7B-Video2World")
    calls.clear()
    assert p1_main(["--model_sizes", "7B", "--model_types", "Video2World", "--checkpoint_dir", ck, "--no_t5",
                    "--no_guardrail"], download_fn=download) == 0
    assert [c[0] for c in calls] == ["nvidia/Cosmos-Predict1-7B-Video2World", "nvidia/Cosmos-Tokenize1-CV8x8x8-720p"]
    calls.clear()
    assert p1_main(["--checkpoint_dir", ck], download_fn=download) == 0  # upstream defaults: both sizes and types
    repos = [c[0] for c in calls]
    assert {f"nvidia/Cosmos-Predict1-{s}-{t}" for s in ("7B", "14B") for t in ("Video2World", "Text2World")} <= set(repos)
    assert repos.count("nvidia/Cosmos-Tokenize1-CV8x8x8-720p") == 1  # one request per repo


def test_predict1_script_runs_as_the_guide_writes_it(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "scripts/download_diffusion_checkpoints.py", "--model_sizes", "7B",
                          "--model_types", "Video2World", "--checkpoint_dir", str(tmp_path / "c"), "--dry-run"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "nvidia/Cosmos-Predict1-7B-Video2World" in out.stdout and "dry run" in out.stdout
    assert not (tmp_path / "c").exists()


# (experiment, --model_sizes, --model_types, --resolution, --fps) of scripts/download_checkpoints.py
FAMILIES = [
    ("predict2_video2world_training_2b_agibot_head_center_fisheye_color", ["2B"], ["Video2World"], ["720"], [16]),
    ("predict2_video2world_training_14b_agibot_head_center_fisheye_color_480p_10fps", ["14B"], ["Video2World"],
     ["480"], [10]),
    ("predict2_video2world_training_14b_groot_gr1_480", ["14B"], ["Video2World"], ["720"], [16]),
    ("action_conditional_predict2_video2world_2b_training", ["2B"], ["Video2World-Action"], ["720"], [16]),
    ("ac_reason_embeddings_rectified_flow_2b_256_320", ["2B"], ["Predict2.5"], ["720"], [16]),
    ("video2world_action_bridge_2frames", ["7B"], ["Predict1-Video2World"], ["720"], [16]),
]


def _files_named_by(experiment: str) -> list[str]:
    """DiT weights, tokenizer files and text-encoder folder the experiment's config names (all missing here)."""
    from cosmos_predict2.configs.compose import compose_config
    from cosmos_predict2.lazy_config.nodes import node_get
    from cosmos_predict2.configs.preflight import tokenizer_findings, weights_source

    cfg = compose_config("cosmos_predict2/configs/base/config.py", [f"experiment={experiment}"])
    files = [weights_source(cfg)[0]] + [f.path for f in tokenizer_findings(cfg)]
    text = node_get(cfg.model, "config", "text_encoder")
    if node_get(text, "kind", default="none") != "none" and node_get(text, "path", default=""):
        files.append(str(node_get(text, "path")))
    return [f for f in files if f]


@pytest.mark.parametrize("experiment,sizes,types,res,fps", FAMILIES, ids=[f[0][:40] for f in FAMILIES])
def test_download_types_cover_every_experiment_family(experiment, sizes, types, res, fps, tmp_path, monkeypatch):
    from cosmos_predict2.checkpoint.download import covers, plan_downloads

    monkeypatch.chdir(tmp_path)  # nothing is on disk: every file the config names is reported
    monkeypatch.setenv("IMAGINAIRE_OUTPUT_ROOT", str(tmp_path / "out"))
    files = _files_named_by(experiment)
    assert any("tokenizer" in f.lower() or "tokenize1" in f.lower() for f in files), files
    items = plan_downloads(sizes, types, "checkpoints", res, fps)
    assert [f for f in files if not covers(items, f)] == [], [(i.repo_id, i.allow_patterns) for i in items]
    if experiment == "video2world_action_bridge_2frames":  # the Predict1 script's own plan covers it as well
        from scripts.download_diffusion_checkpoints import parse_args, plan

        p1 = plan(parse_args(["--model_sizes", "7B", "--model_types", "Video2World"]))
        assert [f for f in files if not covers(p1, f)] == []
