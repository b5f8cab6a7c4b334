"""JSON-driven action-conditioned inference over a Bridge split (``examples/action_conditioned.py``).

For every annotation ``input_root/input_json_sub_folder/*.json`` in ``[start, end)`` (sorted by episode
number): load the episode with the episode reader and the experiment's training-data settings
(:func:`episode_settings`: actions from ``state`` exactly as training computes them), roll the model out over all
its actions (:func:`cosmos_predict2.inference.action_rollout.rollout_episode`), write ``<out>/<name>_<episode>.mp4`` at
``save_fps`` (prediction | ground truth side by side with ``side_by_side``) and
``<out>/<name>_<episode>_metrics.json`` (per-frame PSNR / SSIM against the ground truth). A summary of all
episodes goes to ``<out>/<name>_summary.json``.

A short last chunk (actions not a multiple of ``chunk_size``) is zero-padded by default, as upstream
Predict2.5 ``examples/action_conditioned.py`` (``inference()`` in ``cosmos_predict2/action_conditioned.py``
pads actions ``[i : i+chunk_size]`` with zeros, lines ~312-321 at commit 7e5ffc8): N actions give 1 + N
frames. The field ``partial_chunk="drop"`` (JSON or ``--partial_chunk drop``) skips it instead, as upstream
Predict2 ``examples/video2world_action.py``.

A LeRobot ``input_root`` (``meta/info.json``) is read with the experiment's LeRobot settings (camera, action
features, stride): the episodes of the params field ``episodes`` (indices, ``"a:b"``; default: the ``test`` split),
their actions normalised with the checkpoint's statistics (``cosmos_predict2.checkpoint.metadata``); data whose
action width differs from the net's or the checkpoint's is an error before the model is built.

The action fields of the params (``action_scaler``, ``gripper_scale``, ``fps_downsample_ratio``, ``state_key``,
``gripper_key``) are the experiment's: left out (null) they take its training dataset's values, and a value that
differs is an error naming both numbers. ``resolution`` defaults to the experiment's frame size (another size is
allowed, with a warning). ``--action-mode shuffled`` gives every episode another selected episode's actions
(:mod:`cosmos_predict2.inference.action_modes`).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import json
import logging
import os
import time
from typing import Any, Callable, Mapping

import numpy as np

from cosmos_predict2.configs.action_data import net_action_dim
from cosmos_predict2.data.bridge_episode import EpisodeSettings, bridge_video_path, load_bridge_episode, read_episode
from cosmos_predict2.data.errors import DataError
from cosmos_predict2.data.lerobot_episode import LeRobotSettings, load_lerobot_episode
from cosmos_predict2.data.lerobot_meta import LeRobotMeta, is_lerobot_dataset, parse_episode_selection
from cosmos_predict2.inference import experiment_info
from cosmos_predict2.inference.action_modes import ACTION_MODES, counterfactual_actions
from cosmos_predict2.inference.action_rollout import rollout_episode
from cosmos_predict2.inference.params import (ACTION_CONDITIONED_CHOICES, EXPERIMENT_EPISODE_FIELDS, ParamError,
                                              parse_resolution)

log = logging.getLogger(__name__)

_DEFAULT_LOADERS = ("cosmos_predict2.action_conditioned.load_default_action_fn",
                    "cosmos_predict2.inference.action_conditioned.load_default_action_fn")


def _episode_sort_key(path: str):
    stem = os.path.splitext(os.path.basename(path))[0]
    return (0, int(stem), stem) if stem.isdigit() else (1, 0, stem)


def list_episodes(params: Mapping[str, Any]) -> list[str]:
    folder = os.path.join(params["input_root"], params["input_json_sub_folder"])
    if not os.path.isdir(folder):
        raise ParamError(f"input_root/input_json_sub_folder = {folder} is not a folder of annotation JSON files")
    files = sorted(glob.glob(os.path.join(folder, "*.json")), key=_episode_sort_key)
    if not files:
        raise ParamError(f"{folder} holds no *.json annotations")
    chosen = files[params["start"]:params["end"]]
    if not chosen:
        raise ParamError(f"start={params['start']}, end={params['end']} select none of the {len(files)} episodes in {folder}")
    return chosen


def lerobot_episode_ids(meta: LeRobotMeta, params: Mapping[str, Any]) -> list[int]:
    """The LeRobot episodes of the params: ``episodes`` (indices, "a:b" or "3,5"), else the dataset's ``test``
    split (every episode when info.json has none), then ``[start:end]`` of those."""
    spec = params.get("episodes")
    if spec is None:
        spec = meta.split_episodes("test") if "test" in (meta.info.get("splits") or {}) else None
    ids = parse_episode_selection(spec, meta.by_index, f"{meta.root} (field 'episodes')")
    chosen = ids[params["start"]:params["end"]]
    if not chosen:
        raise ParamError(f"start={params['start']}, end={params['end']} select none of the {len(ids)} episodes "
                         f"{ids[:5]}... of {meta.root}")
    return chosen


def episode_settings(config: Any, params: Mapping[str, Any]) -> EpisodeSettings | LeRobotSettings:
    """The experiment's episode settings (:func:`~cosmos_predict2.inference.experiment_info.action_settings`) at the
    params' ``resolution``; a params action field that differs from the experiment's raises :class:`ParamError`.
    LeRobot experiments take no Bridge action fields (their actions are normalised with the checkpoint's
    statistics)."""
    settings = experiment_info.action_settings(config)
    if isinstance(settings, LeRobotSettings):
        for field in EXPERIMENT_EPISODE_FIELDS:
            if params.get(field) is not None:
                raise ParamError(f"field '{field}'={params[field]!r} applies to Bridge data; the experiment reads "
                                 "LeRobot episodes, whose actions are normalised with the checkpoint's statistics: "
                                 "drop the field")
        if params.get("resolution"):
            settings = dataclasses.replace(settings, video_size=parse_resolution(params["resolution"]))
        return settings
    for field, name in EXPERIMENT_EPISODE_FIELDS.items():
        value, trained = params.get(field), getattr(settings, name)
        if value is not None and value != trained:
            raise ParamError(f"field '{field}'={value!r} but the experiment's training dataset has {name}={trained!r}"
                             f": inference computes actions as training did; drop the field (null takes the "
                             f"experiment's value) or set it to {trained!r}")
    if params.get("resolution"):
        settings = dataclasses.replace(settings, video_size=parse_resolution(params["resolution"]))
    return settings


def resolved_params(params: Mapping[str, Any], settings: EpisodeSettings | LeRobotSettings) -> dict[str, Any]:
    """``params`` with the experiment's values in the action fields and ``resolution`` (what the loaders get)."""
    out = {} if isinstance(settings, LeRobotSettings) else \
        {field: getattr(settings, name) for field, name in EXPERIMENT_EPISODE_FIELDS.items()}
    return {**params, **out, "resolution": "{},{}".format(*settings.video_size)}


def load_default_action_fn(json_data: Mapping[str, Any], video_path: str, args: Mapping[str, Any]) -> dict:
    """Upstream ``load_fn`` protocol: -> {"actions", "initial_frame", "video_array", "video_path"}. ``args`` holds
    the resolved params, ``annotation_path`` and ``episode_settings`` (:func:`episode_settings`)."""
    ep = load_bridge_episode(args["annotation_path"], args["episode_settings"], video_path=video_path,
                             start_frame_idx=args["start_frame_idx"], reverse=args["reverse"])
    return {"actions": ep["actions"], "initial_frame": ep["frames"][0], "video_array": ep["frames"],
            "video_path": ep["video_path"], "key": ep["key"]}


def _resolve_loader(name: str) -> Callable:
    if name in _DEFAULT_LOADERS:
        return load_default_action_fn
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ParamError(f"field 'action_load_fn': cannot import {name!r} ({err})") from err


def check_model_fits(config: Any, params: Mapping[str, Any]) -> None:
    """Fail before the model is built when the chunk length or conditioning does not fit the experiment."""
    for field, choices in ACTION_CONDITIONED_CHOICES.items():
        if field in params and params[field] not in choices:
            raise ParamError(f"field '{field}'={params[field]!r}: use one of {', '.join(map(repr, choices))}")
    frames = experiment_info.num_frames(config)
    if params["chunk_size"] + 1 != frames:
        raise ParamError(f"field 'chunk_size'={params['chunk_size']} needs {params['chunk_size'] + 1}-frame clips but "
                         f"the experiment generates num_video_frames={frames}; set chunk_size={frames - 1}")
    if params["num_latent_conditional_frames"] != 1:
        raise ParamError("field 'num_latent_conditional_frames' must be 1 for action-conditioned rollouts "
                         "(one conditioning frame per chunk)")
    width = net_action_dim(config)
    if params["use_quat"]:
        raise ParamError(f"field 'use_quat'=true gives 8-d quaternion actions; the experiment's net takes {width}-d "
                         "actions; set use_quat=false")
    settings = episode_settings(config, params)
    lerobot = is_lerobot_dataset(params["input_root"])
    if lerobot != isinstance(settings, LeRobotSettings):
        raise ParamError(f"field 'input_root'={params['input_root']!r} is "
                         + ("a LeRobot dataset but the experiment was trained on Bridge episodes"
                            if lerobot else "not a LeRobot dataset (no meta/info.json) but the experiment was trained "
                                            "on LeRobot episodes") + "; pick matching data or experiment")
    if lerobot:
        try:
            meta = LeRobotMeta(params["input_root"])
            data_width = settings.action_dim(meta)
            lerobot_episode_ids(meta, params)
        except DataError as err:
            raise ParamError(f"field 'input_root': {err}") from None
        norm = experiment_info.action_normalization(config)
        for what, dim in (("the experiment's net (model.config.net.action_dim)", width),
                          ("the checkpoint's action normalisation", norm.dim if norm is not None else None)):
            if dim is not None and dim != data_width:
                raise ParamError(f"{params['input_root']} gives {data_width}-d actions ({settings.action_source} "
                                 f"'{settings.action_key if settings.action_source == 'recorded' else settings.state_key}'"
                                 f") but {what} expects {dim}-d actions; use the data the checkpoint was trained on")
    elif width is not None and width != 7:
        raise ParamError(f"the experiment's net takes {width}-d actions but Bridge episodes give 7-d actions")
    conditioner = config.model.config.conditioner
    if not (conditioner is not None and "use_action" in conditioner and conditioner["use_action"]):
        raise ParamError("the experiment's model is not action-conditioned (conditioner.use_action=False); "
                         "pick an action-conditioned --experiment")


def run_episodes(model: Any, config: Any, params: Mapping[str, Any], output_dir: str, *, side_by_side: bool = False,
                 action_mode: str = "gt", echo: Callable[[str], Any] = print,
                 score: Callable[[np.ndarray, np.ndarray], dict]) -> dict[str, Any]:
    """Roll out every selected episode; returns the summary dict (also written to disk).

    ``score(pred, gt)`` gives an episode's metrics (``psnr_mean``, ``dynamic_psnr``, ``ssim_mean``, ``per_frame``;
    the evaluation's :func:`~cosmos_predict2.evaluation.metrics.episode_scores`). ``action_mode``: see
    :mod:`cosmos_predict2.inference.action_modes` (``shuffled`` needs at least 2 selected episodes).
    """
    from cosmos_predict2.data.video_io import write_video

    if action_mode not in ACTION_MODES:
        raise ParamError(f"--action-mode {action_mode!r}: use one of {', '.join(ACTION_MODES)}")
    check_model_fits(config, params)
    loader = _resolve_loader(params["action_load_fn"])
    settings = episode_settings(config, params)
    params = resolved_params(params, settings)
    trained = experiment_info.video_size(config)
    if tuple(settings.video_size) != tuple(trained):
        log.warning("resolution %s differs from the %dx%d the experiment trains on", params["resolution"], *trained)
    if params.get("prompt"):
        log.info("prompt is not used: action-conditioned models are conditioned on actions (zero text embeddings)")
    if isinstance(settings, LeRobotSettings):
        meta = LeRobotMeta(params["input_root"])
        norm = experiment_info.action_normalization(config)
        files = [str(i) for i in lerobot_episode_ids(meta, params)]

        def load(name: str) -> dict:
            ep = load_lerobot_episode(meta, int(name), settings, norm, start_frame_idx=params["start_frame_idx"])
            frames = ep["frames"][::-1].copy() if params["reverse"] else ep["frames"]
            return {"actions": ep["actions"], "video_array": frames, "video_path": ep["video_path"], "key": ep["key"]}
    else:
        files = list_episodes(params)

        def load(ann_path: str) -> dict:
            ep = read_episode(ann_path, settings)
            video_path = bridge_video_path(params["input_root"], ann_path, ep["ann"], params["camera_id"])
            return loader(ep["ann"], video_path, {**params, "annotation_path": ann_path,
                                                  "episode_settings": settings})
    if action_mode == "shuffled" and len(files) < 2:
        raise ParamError(f"--action-mode shuffled gives each episode another episode's actions: start={params['start']}"
                         f", end={params['end']} select {len(files)} episode; select at least 2")

    donors = None  # "shuffled": every episode's own actions first, then each gets another one's
    if action_mode == "shuffled":
        donors = counterfactual_actions([load(p)["actions"] for p in files], action_mode, params["seed"])
    os.makedirs(output_dir, exist_ok=True)
    fps = float(experiment_info.fps(config))
    partial = params.get("partial_chunk", "pad")
    results = []
    for i, ann_path in enumerate(files):
        stem = ann_path if isinstance(settings, LeRobotSettings) else os.path.splitext(os.path.basename(ann_path))[0]
        data = load(ann_path)
        actions = donors[i] if donors is not None else counterfactual_actions([data["actions"]], action_mode,
                                                                               params["seed"])[0]
        gt = np.asarray(data["video_array"])
        if partial == "drop" and len(actions) < params["chunk_size"]:
            raise DataError(ann_path, f"{len(actions)} actions make no full chunk of {params['chunk_size']} and "
                                      "partial_chunk='drop' skips a short chunk", "use partial_chunk='pad'")
        t0 = time.perf_counter()
        pred = rollout_episode(model, gt[:1], actions, chunk_size=params["chunk_size"], guidance=params["guidance"],
                               seed=params["seed"], num_steps=params["num_steps"], fps=fps,
                               single_chunk=params["single_chunk"],
                               num_latent_conditional_frames=params["num_latent_conditional_frames"],
                               partial_chunk=partial)
        seconds = time.perf_counter() - t0
        scores = score(pred, gt)
        frames_out = np.concatenate([pred, gt[:len(pred)]], axis=2) if side_by_side else pred
        video_out = os.path.join(output_dir, f"{params['name']}_{stem}.mp4")
        write_video(video_out, frames_out, fps=params["save_fps"])
        record = {"episode": stem, "annotation": ann_path, "video": video_out, "num_actions": int(len(actions)),
                  "num_frames": int(len(pred)), "partial_chunk": partial, "action_mode": action_mode,
                  "seconds": seconds,
                  **scores}
        with open(os.path.join(output_dir, f"{params['name']}_{stem}_metrics.json"), "w") as f:
            json.dump(record, f, indent=1)
        results.append(record)
        echo(f"[{i + 1}/{len(files)}] {stem}: {len(pred)} frames in {seconds:.1f}s, "
             f"PSNR {record['psnr_mean']:.2f} dB, dynamic PSNR {record.get('dynamic_psnr', float('nan')):.2f} dB, "
             f"SSIM {record['ssim_mean']:.3f} -> {video_out}")
    summary = {"name": params["name"], "params": dict(params), "action_mode": action_mode,
               "accumulate_action": getattr(settings, "accumulate_action", False),
               "action_normalization": (experiment_info.action_normalization(config).to_dict()
                                        if isinstance(settings, LeRobotSettings) else None),
               "episodes": [{k: v for k, v in r.items() if k != "per_frame"} for r in results],
               "psnr_mean": float(np.mean([r["psnr_mean"] for r in results])),
               "dynamic_psnr": float(np.mean([r.get("dynamic_psnr", float("nan")) for r in results])),
               "ssim_mean": float(np.mean([r["ssim_mean"] for r in results]))}
    with open(os.path.join(output_dir, f"{params['name']}_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary
