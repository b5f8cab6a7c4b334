"""Preflight: every file a training run will read, checked in seconds, before any process group or model.

:func:`preflight_findings` lists, for a composed config:

- the DiT weights the run starts from: the checkpoint ``latest_checkpoint.txt`` names when the job resumes
  (then nothing else is read), else ``checkpoint.load_path``, else
  ``model.config.model_manager_config.dit_path``;
- files named in the tokenizer node (``vae_pth`` and other ``*_pth`` / ``*_path`` keys);
- that the DiT weights file fits the net's options (metadata only, the net on the meta device);
- the datasets: ``dataloader_train`` and, when used, ``dataloader_val`` and the validation split of the
  rollout-eval callback (each dataset class's cheap ``check_files``; no video is decoded);
- that the data's action width equals the net's ``action_dim``.

Each missing file comes with the command that puts it where this experiment expects it (released weights:
``hf download ...``; the guides' datasets: their download / preparation commands). :func:`check_preflight`
raises one :class:`PreflightError` listing all of them.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from omegaconf import DictConfig

from cosmos_predict2.checkpoint.download import download_command
from cosmos_predict2.lazy_config.errors import ConfigError
from cosmos_predict2.lazy_config.nodes import node_get
from cosmos_predict2.pipelines.model_config import model_config

__all__ = ["Finding", "PreflightError", "preflight_findings", "check_preflight", "tokenizer_findings",
           "weights_source"]

BRIDGE_URL = "https://lf-robot-opensource.bytetos.com/obj/lab-robot-public/opensource_IRASim_v1/bridge_train_data.tar.gz"

# How to get the datasets the shipped experiments read (the guides' commands), by folder.
DATASET_COMMANDS = {
    "datasets/bridge": (f"mkdir -p datasets && curl -L {BRIDGE_URL} | tar -xz -C datasets/ && "
                        "mv datasets/opensource_robotdata/bridge datasets/bridge"),
    "datasets/synthetic_bridge": "python -m scripts.prepare_synthetic_data --layout bridge --out datasets/synthetic_bridge",
    "datasets/sim_bridge": 'pip install -e ".[sim]" && python -m scripts.prepare_sim_data --out datasets/sim_bridge',
    "datasets/synthetic_lerobot": "python -m scripts.prepare_synthetic_data --layout lerobot --out datasets/synthetic_lerobot",
    "datasets/synthetic_video_text": ("python -m scripts.prepare_synthetic_data --layout video_text "
                                      "--out datasets/synthetic_video_text --t5 tiny"),
    "datasets/benchmark_train/gr1": (
        "hf download nvidia/GR1-100 --repo-type dataset --local-dir datasets/benchmark_train/hf_gr1/ && "
        "mkdir -p datasets/benchmark_train/gr1/videos && "
        "mv datasets/benchmark_train/hf_gr1/gr1/*mp4 datasets/benchmark_train/gr1/videos && "
        "mv datasets/benchmark_train/hf_gr1/metadata.csv datasets/benchmark_train/gr1/ && "
        "python -m scripts.get_t5_embeddings_from_groot_dataset --dataset_path datasets/benchmark_train/gr1"),
}
for _split in ("train", "val"):
    DATASET_COMMANDS[f"datasets/agibot_head_center_fisheye_color/{_split}"] = (
        "python scripts/prepare_agibot_fisheye_data.py && python scripts/prepare_agibot_fisheye_data.py --split-only "
        f"--val_episode_ids 685393 && python scripts/get_t5_embeddings.py --dataset_path "
        f"datasets/agibot_head_center_fisheye_color/{_split}")


@dataclasses.dataclass
class Finding:
    """One file the run needs and cannot use: which config key, which path, what is wrong, how to fix it."""

    key: str
    path: str
    problem: str
    fix: Optional[str] = None
    label: Optional[str] = None  # what the fix line is called; default: "fix" for a misfit, else "get it"

    @property
    def fix_label(self) -> str:
        if self.label:
            return self.label
        return "fix" if self.problem.startswith("does not fit") else "get it"

    def lines(self) -> list[str]:
        out = [f"  - {self.key}: {self.path}: {self.problem}"]
        if self.fix:
            out.append(f"      {self.fix_label}: {self.fix}")
        return out


class PreflightError(ConfigError):
    """Files the run needs are missing (all of them, each with its download command)."""

    def __init__(self, findings: list[Finding], footer: str = ""):
        self.findings = findings
        if len(findings) == 1:  # one problem: one line
            f = findings[0]
            text = f"preflight: {f.key}: {f.path}: {f.problem}" + (f"; {f.fix_label}: {f.fix}" if f.fix else "")
            super().__init__(text + (f" {footer}" if footer else ""))
            return
        lines = [f"preflight: {len(findings)} files this run needs are missing or unusable:"]
        for f in findings:
            lines += f.lines()
        if footer:
            lines.append(footer)
        super().__init__("\n".join(lines))


def _weights_fix(path: str) -> str:
    return download_command(path) or "fix the path, or download / convert the checkpoint it should point at"


def weights_source(config: Any) -> tuple[Optional[str], str]:
    """``(path, config key)`` of the weights a fresh run starts from (``checkpoint.load_path`` wins over
    ``dit_path``); ``(None, "")`` for random initialisation."""
    load_path = str(config.checkpoint.load_path or "")
    if load_path:
        return load_path, "checkpoint.load_path"
    dit_path = model_config(config).model_manager_config.dit_path
    if dit_path:
        return dit_path, "model.config.model_manager_config.dit_path"
    return None, ""


def _weight_findings(config: Any) -> list[Finding]:
    from cosmos_predict2.checkpoint.base import read_latest
    from cosmos_predict2.checkpoint.weights import CheckpointError, resolve_checkpoint

    name = read_latest(config.job.checkpoint_dir)
    if name is not None:
        resume = os.path.join(config.job.checkpoint_dir, name)
        try:
            resolve_checkpoint(resume)
        except CheckpointError:
            return [Finding("latest_checkpoint.txt", resume, "the checkpoint the job would resume from is missing",
                            "fix latest_checkpoint.txt (e.g. point it to an existing iter_* entry) or delete it "
                            "to start over")]
        return []  # resuming: the base weights are not read
    path, key = weights_source(config)
    if path and not os.path.exists(path):
        return [Finding(key, path, "does not exist", _weights_fix(path))]
    return _fit_findings(config, path, key) if path else []


def _fit_findings(config: Any, path: str, key: str) -> list[Finding]:
    """The weights file against the net's options (the net built on the meta device, the file's metadata only):
    a released file whose layout the experiment's net does not have is reported here, in seconds."""
    from cosmos_predict2.checkpoint.weights import CheckpointError, UnsafeCheckpointError, match_net_node

    mcfg = model_config(config)
    net_node = mcfg.net
    if net_node is None:
        return []
    new_modules = mcfg.model_manager_config.new_modules
    try:
        match_net_node(net_node, path, new_modules=new_modules, what=key)
    except UnsafeCheckpointError as err:  # names the refused file inside the checkpoint
        problem, _, fix = str(err).rpartition("; ")
        return [Finding(key, path, problem, fix, label="fix")]
    except CheckpointError as err:
        problem = str(err)
        fix = problem.rsplit("; ", 1)[-1].rstrip(".") if "; " in problem else "pick the experiment it was trained with"
        return [Finding(key, path, "does not fit the experiment's net: " + problem.split(": ", 1)[-1].rsplit("; ", 1)[0],
                        fix)]
    except Exception:  # noqa: BLE001 - a net that cannot be built is the build's error to report
        return []
    return []


def _file_keys(node: Any, prefix: str) -> list[tuple[str, str]]:
    """``(config key, path)`` of the string values named ``*_pth`` / ``*_path`` / ``path`` in a node."""
    out = []
    if isinstance(node, (DictConfig, dict)):
        for key in node.keys():
            value = node[key]
            if isinstance(value, str) and value and (key.endswith(("_pth", "_path")) or key == "path"):
                out.append((f"{prefix}.{key}", value))
    return out


def tokenizer_findings(config: Any) -> list[Finding]:
    """Missing files named in ``model.config.tokenizer`` (when it loads weights)."""
    node = node_get(config.model, "config", "tokenizer")
    if node is None or node_get(node, "load_weights", default=True) is False:
        return []
    found = [Finding(key, path, "does not exist", _weights_fix(path))
             for key, path in _file_keys(node, "model.config.tokenizer") if not os.path.exists(path)]
    # tokenizers that read several files from a folder (Cosmos-Tokenize1: encoder.jit, decoder.jit, mean_std.pt)
    missing = getattr(_locate(node_get(node, "_target_")), "missing_files", None)
    if callable(missing):
        kwargs = {k: node[k] for k in node.keys() if k != "_target_" and node[k] is not None}
        found += [Finding(f"model.config.tokenizer.{key}", path, problem, fix)
                  for key, path, problem, fix in missing(**kwargs)]
    return found


def _locate(target: Any) -> Any:
    from cosmos_predict2.lazy_config import locate

    try:
        return locate(target) if isinstance(target, str) else target
    except Exception:  # noqa: BLE001 - an unknown target is the build's error to report
        return None


def _dataset_finding(key: str, dataset_node: Any, **overrides: Any) -> Optional[Finding]:
    """Run the dataset class's ``check_files`` on its config node; a Finding for a DataError."""
    from cosmos_predict2.data.errors import DataError

    cls = _locate(node_get(dataset_node, "_target_"))
    check = getattr(cls, "check_files", None)
    if check is None:
        return None
    kwargs = {k: dataset_node[k] for k in dataset_node.keys() if k != "_target_"}
    kwargs.update(overrides)
    try:
        check(**kwargs)
    except DataError as err:
        root = str(kwargs.get("dataset_dir") or kwargs.get("video_path") or kwargs.get("root") or err.path or "")
        fix = DATASET_COMMANDS.get(os.path.normpath(root)) or err.fix or (
            f"point {key} at your dataset folder")
        return Finding(key, err.path or root, err.problem, fix)
    return None


def _callback_targets(config: Any) -> list[tuple[str, Any]]:
    callbacks = config.trainer.callbacks or {}
    return [(name, callbacks[name]) for name in callbacks.keys()]


def _data_findings(config: Any) -> list[Finding]:
    out = []
    loaders = [("dataloader_train", config.dataloader_train)]
    if config.dataloader_val is not None and bool(config.trainer.run_validation):
        loaders.append(("dataloader_val", config.dataloader_val))
    for name, loader in loaders:
        ds = node_get(loader, "dataset")
        if ds is not None:
            found = _dataset_finding(f"{name}.dataset." + ("root" if "root" in ds else "dataset_dir"), ds)
            if found is not None:
                out.append(found)
    for name, node in _callback_targets(config):
        cls = _locate(node_get(node, "_target_"))
        if cls is not None and getattr(cls, "__name__", "") == "RolloutEvalCallback":
            ds = node_get(config.dataloader_val, "dataset") or node_get(config.dataloader_train, "dataset")
            split = str(node_get(node, "split", default="val"))
            override = {"mode": split}
            if node_get(node, "dataset_dir"):
                override["dataset_dir"] = str(node["dataset_dir"])
            if ds is not None:
                found = _dataset_finding(f"trainer.callbacks.{name} ({split} split)", ds, **override)
                if found is not None:
                    out.append(found)
    return out


def _action_width_findings(config: Any) -> list[Finding]:
    """The data's action width against the net's ``action_dim`` (LeRobot: from info.json; seconds)."""
    from cosmos_predict2.configs.action_data import data_action_dim, net_action_dim, training_dataset_node

    data, net = data_action_dim(config), net_action_dim(config)
    if data is None or net is None or data == net:
        return []
    node = training_dataset_node(config)
    where = str(node_get(node, "root") or node_get(node, "dataset_dir") or "the training data")
    return [Finding("model.config.net.action_dim", where,
                    f"the data gives {data}-d actions but the net takes {net}-d actions",
                    f"set model.config.net.action_dim={data} (a new action width needs action embedders trained for "
                    "it: list them in model.config.model_manager_config.new_modules when starting from released "
                    "weights), or read actions of the net's width", label="fix")]


def preflight_findings(config: Any) -> list[Finding]:
    """Every missing or unusable file of the run (empty when all is there), each problem once."""
    findings = (_weight_findings(config) + tokenizer_findings(config)
                + _data_findings(config) + _action_width_findings(config))
    seen, out = set(), []
    for f in findings:
        if (f.path, f.problem) not in seen:  # e.g. one missing folder read by the loader and the callback
            seen.add((f.path, f.problem))
            out.append(f)
    return out


def check_preflight(config: Any) -> None:
    """Raise :class:`PreflightError` listing every missing file (see the module doc)."""
    findings = preflight_findings(config)
    if findings:
        footer = ""
        if any(f.key == "model.config.model_manager_config.dit_path" for f in findings):
            footer = ("(to train from random weights instead, say so: "
                      "model.config.model_manager_config.dit_path='')")
        raise PreflightError(findings, footer)
