"""Fetch released weights from the Hugging Face Hub into ``checkpoints/<owner>/<repo>/...``.

``plan_downloads(model_sizes, model_types, ...)`` lists what to fetch (repo id, file patterns, target
folder); ``run_downloads(plan, download_fn=...)`` fetches it. The fetcher is a parameter:
``download_fn(repo_id, allow_patterns, local_dir, token) -> local path``; the default is
``huggingface_hub.snapshot_download`` (which resumes partial files and skips complete ones), so tests can use a
local fake and never touch the network. Gated repos (401/403, ``GatedRepoError``) give a one-line message
saying where to accept the licence and how to log in.

Layout written (what the configs and examples expect):
- ``checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/model-720p-16fps.pt`` and ``tokenizer/tokenizer.pth``;
- ``checkpoints/nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned/model-480p-4fps.pt``;
- ``checkpoints/nvidia/Cosmos-Predict2-14B-Sample-GR00T-Dreams-{GR1,DROID}/model-480p-16fps.pt``;
- ``checkpoints/nvidia/Cosmos-Predict2.5-2B/tokenizer.pth`` (+ ``base/pre-trained/``, ``robot/action-cond/``) for the
  Predict2.5 configs (14B: ``checkpoints/nvidia/Cosmos-Predict2.5-14B/base/pre-trained/``; their Reason1.1 text
  encoder is not fetched: the action data's empty captions are encoded as the zero embedding, nothing reads it);
- ``checkpoints/nvidia/Cosmos-Predict1-{7B,14B}-{Video2World,Text2World}/model.pt`` (Predict1 DiTs; upstream's
  ``scripts/download_diffusion_checkpoints.py`` puts them in ``checkpoints/Cosmos-Predict1-...`` without the owner
  folder: here every repo goes to ``checkpoints/<owner>/<repo>``, where the configs look);
- ``checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p/{encoder.jit,decoder.jit,mean_std.pt}`` (Predict1 tokenizer);
- ``checkpoints/google-t5/t5-11b/`` (T5 encoder for prompts), ``checkpoints/nvidia/Cosmos-Guardrail1``,
  ``checkpoints/nvidia/Cosmos-Reason1-7B`` (prompt refiner / best-of-N critic).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Callable, Iterable, Optional, Sequence

MODEL_TYPES = ("Video2World", "Video2World-Action", "GR00T-GR1", "GR00T-DROID", "Guardrail", "Reason1",
               "Predict1-Video2World", "Predict1-Text2World", "Predict2.5")
MODEL_SIZES = ("2B", "14B", "7B")
T5_REPO = "google-t5/t5-11b"
T5_PATTERNS = ("*.json", "spiece.model", "pytorch_model.bin")


class DownloadError(ValueError):
    """One line: which repo failed, why, and how to fix it."""


@dataclasses.dataclass(frozen=True)
class DownloadItem:
    repo_id: str
    allow_patterns: tuple[str, ...]
    local_dir: str
    why: str
    revision: Optional[str] = None  # a Hub revision (commit) when not the default branch


def _variants(resolutions: Sequence[str], fps: Sequence[int]) -> tuple[str, ...]:
    return tuple(f"model-{r}p-{f}fps.pt" for r in resolutions for f in fps)


def plan_downloads(model_sizes: Sequence[str], model_types: Sequence[str], checkpoint_dir: str = "checkpoints",
                   resolutions: Sequence[str] = ("720",), fps: Sequence[int] = (16,),
                   include_t5: bool = True) -> list[DownloadItem]:
    """What to fetch for the requested sizes/types: DiT + tokenizer of each model, plus its T5-11B text encoder
    unless ``include_t5`` is False."""
    for t in model_types:
        if t not in MODEL_TYPES:
            raise DownloadError(f"--model_types {t!r}: use one of {', '.join(MODEL_TYPES)}")
    for s in model_sizes:
        if s not in MODEL_SIZES:
            raise DownloadError(f"--model_sizes {s!r}: use one of {', '.join(MODEL_SIZES)}")
    items: list[DownloadItem] = []

    def add(repo: str, patterns: Iterable[str], why: str, revision: Optional[str] = None,
            folder: Optional[str] = None) -> None:
        """One item per (repo, revision): patterns of repeated requests are merged."""
        for i, old in enumerate(items):
            if old.repo_id == repo and old.revision == revision:
                merged = old.allow_patterns + tuple(p for p in patterns if p not in old.allow_patterns)
                items[i] = dataclasses.replace(old, allow_patterns=merged)
                return
        items.append(DownloadItem(repo, tuple(patterns), os.path.join(checkpoint_dir, *(folder or repo).split("/")),
                                  why, revision))

    for size in model_sizes:
        p2 = size in ("2B", "14B")
        for t in model_types:
            if t == "Video2World" and p2:
                add(f"nvidia/Cosmos-Predict2-{size}-Video2World", _variants(resolutions, fps) + ("tokenizer/*",),
                    f"{size} Video2World DiT + Wan2.1 VAE")
            elif t == "Video2World-Action" and size == "2B":
                add("nvidia/Cosmos-Predict2-2B-Sample-Action-Conditioned", ("model-480p-4fps.pt",),
                    "2B action-conditioned DiT (Bridge)")
                add("nvidia/Cosmos-Predict2-2B-Video2World", ("tokenizer/*",), "Wan2.1 VAE")
            elif t in ("GR00T-GR1", "GR00T-DROID") and p2:
                variant = t.split("-")[1]
                add(f"nvidia/Cosmos-Predict2-{size}-Sample-GR00T-Dreams-{variant}", ("model-480p-16fps.pt",),
                    f"{size} GR00T Dreams {variant} DiT")
                add(f"nvidia/Cosmos-Predict2-{size}-Video2World", ("tokenizer/*",), "Wan2.1 VAE")
            elif t in ("Predict1-Video2World", "Predict1-Text2World") and size in ("7B", "14B"):
                kind = t.split("-", 1)[1]
                add(f"nvidia/Cosmos-Predict1-{size}-{kind}", ("model.pt", "config.json"),
                    f"Predict1 {size} {kind} DiT")
                add("nvidia/Cosmos-Tokenize1-CV8x8x8-720p", ("encoder.jit", "decoder.jit", "mean_std.pt"),
                    "Predict1 video tokenizer (Cosmos-Tokenize1-CV8x8x8-720p)")
    if "Predict2.5" in model_types and "2B" in model_sizes:
        add("nvidia/Cosmos-Predict2.5-2B", ("tokenizer.pth", "base/pre-trained/*_ema_bf16.pt", "robot/action-cond/*"),
            "Predict2.5 2B Wan2.1 VAE, base model (what the post-training experiments start from) and the "
            "action-conditioned (Bridge) checkpoint")
    if "Predict2.5" in model_types and "14B" in model_sizes:
        add("nvidia/Cosmos-Predict2.5-14B", ("base/pre-trained/*_ema_bf16.pt",), "Predict2.5 14B base model")
        add("nvidia/Cosmos-Predict2.5-2B", ("tokenizer.pth",), "Predict2.5 Wan2.1 VAE (shared by 2B and 14B)")
    has_model = bool(items)
    if "Guardrail" in model_types:
        add("nvidia/Cosmos-Guardrail1", ("*",), "guardrail (blocklist + safety models)")
    if "Reason1" in model_types:
        add("nvidia/Cosmos-Reason1-7B", ("*",), "prompt refiner / best-of-N critic")
    # T5 as upstream (every Predict2 / Predict1 download fetches it, the action models' too: their configs name it)
    if include_t5 and has_model and any(t in model_types for t in ("Video2World", "Video2World-Action", "GR00T-GR1",
                                                                    "GR00T-DROID", "Predict1-Video2World",
                                                                    "Predict1-Text2World")):
        add(T5_REPO, T5_PATTERNS, "T5-11B text encoder")
    if not items:
        raise DownloadError(f"nothing to download for sizes {list(model_sizes)} and types {list(model_types)} "
                            "(e.g. Video2World-Action exists only for 2B)")
    return items


# Local folders whose Hub repository has another name (the guides use these folder names).
_REPO_OF_FOLDER = {
    "nvidia/Cosmos-Predict2-14B-Video2World-Sample-GR00T-Dreams-GR1": ("nvidia/Cosmos-Predict2-14B-Sample-GR00T-Dreams-GR1", None),
    "nvidia/Cosmos-Predict2-2B-Video2World-Sample-GR00T-Dreams-GR1": ("nvidia/Cosmos-Predict2-2B-Sample-GR00T-Dreams-GR1", None),
    "nvidia/Cosmos-Reason1.1-7B": ("nvidia/Cosmos-Reason1-7B", "3210bec0495fdc7a8d3dbb8d58da5711eab4b423"),
}
_HUB_OWNERS = ("nvidia", "google-t5", "google", "Wan-AI")


def download_command(path: str) -> Optional[str]:
    """The command that puts the released file (or folder) ``path`` where it is expected, e.g.
    ``checkpoints/nvidia/Cosmos-Predict2-2B-Video2World/tokenizer/tokenizer.pth`` ->
    ``hf download nvidia/Cosmos-Predict2-2B-Video2World tokenizer/tokenizer.pth --local-dir
    checkpoints/nvidia/Cosmos-Predict2-2B-Video2World``. None when ``path`` is not under a Hub owner folder."""
    parts = os.path.normpath(str(path)).split(os.sep)
    for i, part in enumerate(parts[:-1]):
        if part not in _HUB_OWNERS:
            continue
        folder = "/".join(parts[i:i + 2])
        local_dir = os.sep.join(parts[: i + 2])
        repo, revision = _REPO_OF_FOLDER.get(folder, (folder, None))
        inside = "/".join(parts[i + 2:])
        cmd = f"hf download {repo}" + (f" {inside}" if inside else "")
        if revision:
            cmd += f" --revision {revision}"
        return cmd + f" --local-dir {local_dir}"
    return None


def hf_snapshot_download(repo_id: str, allow_patterns: Sequence[str], local_dir: str, token: Optional[str],
                         revision: Optional[str] = None) -> str:
    """The default fetcher: ``huggingface_hub.snapshot_download`` into ``local_dir`` (resumable)."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=repo_id, allow_patterns=list(allow_patterns), local_dir=local_dir, token=token,
                             revision=revision)


def covers(items: Sequence[DownloadItem], path: str) -> bool:
    """Whether fetching ``items`` puts the file (or a file inside the folder) ``path`` on disk: ``path`` lies in
    an item's ``local_dir`` and matches one of its patterns (for a folder: some pattern lies inside it)."""
    import fnmatch

    target = os.path.normpath(str(path))
    for item in items:
        root = os.path.normpath(item.local_dir)
        if target != root and not target.startswith(root + os.sep):
            continue
        rel = os.path.relpath(target, root).replace(os.sep, "/")
        if rel == "." or any(fnmatch.fnmatch(rel, p) or p.startswith(rel + "/") for p in item.allow_patterns):
            return True
    return False


def _explain(item: DownloadItem, err: BaseException) -> DownloadError:
    name = type(err).__name__
    status = getattr(getattr(err, "response", None), "status_code", None)
    if name == "GatedRepoError" or status in (401, 403):
        return DownloadError(f"{item.repo_id} is gated or needs a token (HTTP {status or 401}): accept its licence at "
                             f"https://huggingface.co/{item.repo_id}, then `huggingface-cli login` or set HF_TOKEN")
    if name == "RepositoryNotFoundError" or status == 404:
        return DownloadError(f"{item.repo_id} was not found on the Hub (or is private and you are not logged in)")
    return DownloadError(f"download of {item.repo_id} failed ({name}: {str(err).splitlines()[0] if str(err) else ''}); "
                         "re-run the same command to resume")


def download_cli(make_plan: Callable[[], Sequence[DownloadItem]], checkpoint_dir: str, token: Optional[str] = None,
                 dry_run: bool = False, download_fn: Callable[..., str] = hf_snapshot_download) -> int:
    """What the download scripts do once their flags are parsed: plan, fetch, one-line error (exit 2) or a summary."""
    try:
        items = make_plan()
        run_downloads(items, download_fn=download_fn, token=token, dry_run=dry_run)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("dry run: nothing downloaded" if dry_run else f"done: {len(items)} repositories in {checkpoint_dir}")
    return 0


def run_downloads(items: Sequence[DownloadItem], download_fn: Callable[..., str] = hf_snapshot_download,
                  token: Optional[str] = None, dry_run: bool = False,
                  echo: Callable[[str], object] = print) -> list[str]:
    """Fetch every item (or only print the plan with ``dry_run``). Returns the local folders."""
    token = token or os.environ.get("HF_TOKEN") or None
    out = []
    for i, item in enumerate(items):
        rev = f"@{item.revision[:10]}" if item.revision else ""
        echo(f"[{i + 1}/{len(items)}] {item.repo_id}{rev} {list(item.allow_patterns)} -> {item.local_dir}  ({item.why})")
        if dry_run:
            out.append(item.local_dir)
            continue
        os.makedirs(item.local_dir, exist_ok=True)
        try:
            extra = {"revision": item.revision} if item.revision else {}
            out.append(download_fn(item.repo_id, item.allow_patterns, item.local_dir, token, **extra))
        except DownloadError:
            raise
        except Exception as err:  # noqa: BLE001 - hub errors come in many classes; all become one line
            raise _explain(item, err) from err
    return out
