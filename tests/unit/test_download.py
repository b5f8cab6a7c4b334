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
