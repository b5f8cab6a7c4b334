"""``launch(config) -> exit code``: everything between a validated config and a finished training run.

Order (torchtitan style; no rank ever holds the unsharded net):

1. preflight (:func:`launch`, before the process group, seconds): every file the run reads, all missing ones
   in one message;
2. process group, config validation for this world size, device mesh; a relaunch with nothing left to do
   stops here;
3. memory plan (logged, ``memory_plan.json`` next to ``config.yaml``); a build that cannot fit stops here;
4. the model with its nets (net, LoRA adapters, EMA net) on the ``meta`` device; the weights file is matched
   against it (metadata only: a file of another net fails here, before any allocation);
5. data loaders, then the dataset scan (``trainer/data_scan.py``, unless a dataset says ``preflight=off``): every
   video, embedding and annotation they read is opened and checked (cached per file; rank 0 scans, every rank
   stops with the same list of problems);
6. parallelism: context parallel -> activation checkpointing -> FSDP2;
7. each rank allocates its shards (``to_empty``), initialises what the file does not provide (seeded per
   parameter name: identical on any world size) and loads its slices of the file (``checkpoint/weights.py``);
   the EMA net starts from the net's shards (or the file's ``net_ema.*``);
8. optimizer, scheduler, checkpointer, callbacks; resume of the training state; :class:`Trainer`.

User errors (config, data, checkpoint, memory: ``ValueError`` subclasses) are printed as one line (the
preflight's and the dataset scan's lists once, on rank 0) and give exit code 2; ``COSMOS_DEBUG=1`` re-raises
them with the traceback. A NaN / Inf loss, or an iteration longer than ``trainer.timeout_period`` seconds, gives
exit code 3.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import sys
import time
from typing import Any, Optional

import torch

from cosmos_predict2.lazy_config import instantiate
from cosmos_predict2.pipelines.model_config import model_config
from cosmos_predict2.utils import distributed as du
from cosmos_predict2.utils.hardware import cpu_has_native_bf16
from cosmos_predict2.utils.logging import setup_logging

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LaunchOptions:
    """``build_only``: stop before the first step and print a per-rank summary. ``random_init``: the user
    cleared ``dit_path`` on the command line (logged loudly when the run then starts from random weights)."""

    build_only: bool = False
    random_init: bool = False


def move_except_nets(model: torch.nn.Module, device: torch.device) -> None:
    """``model.to(device)`` for everything but ``net`` / ``net_ema`` (they are meta until materialised)."""
    nets = {n: model._modules[n] for n in ("net", "net_ema") if model._modules.get(n) is not None}
    for name in nets:
        model._modules[name] = None  # keeps the child order; None children are skipped by Module._apply
    try:
        model.to(device)
    finally:
        for name, net in nets.items():
            model._modules[name] = net


def _training_checkpoint_kind(path: str) -> Optional[str]:
    """'dcp' / 'standard' / 'predict1' when ``path`` is a full training checkpoint, else None."""
    from cosmos_predict2.checkpoint.weights import predict1_files

    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model", ".metadata")):
        return "dcp"
    if predict1_files(path) is not None and os.path.isfile(
            os.path.join(os.path.dirname(os.path.abspath(path)), os.path.basename(path)[:len("iter_000000000")] + ".pt")):
        return "predict1"
    parent = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    if os.path.isfile(path) and os.path.basename(os.path.dirname(os.path.abspath(path))) == "model" and \
            os.path.isfile(os.path.join(parent, "trainer", os.path.basename(path))):
        return "standard"
    return None


def _match_source(config, model, checkpointer, resume_path: Optional[str], keys: set[str]):
    """``(WeightMatch or None, training-state checkpoint or None, checkpointer for it)`` for this run:
    resume, else the weights a fresh run starts from (``preflight.weights_source``: ``checkpoint.load_path``,
    else ``model_manager_config.dit_path``), else random initialisation. A whole training checkpoint (resume,
    or ``load_path`` with ``load_training_state``) must hold every parameter. Without ``model`` in the restored
    ``keys`` (``checkpoint.base.resume_keys``) the weights come from ``dit_path`` (else random), not that checkpoint."""
    from cosmos_predict2.checkpoint.dcp import DistributedCheckpointer
    from cosmos_predict2.checkpoint.predict1 import Predict1Checkpointer
    from cosmos_predict2.checkpoint.standard import StandardCheckpointer
    from cosmos_predict2.checkpoint.weights import CheckpointError, match_weights
    from cosmos_predict2.configs.preflight import weights_source

    mm = model_config(config).model_manager_config
    ck = config.checkpoint
    path, what = weights_source(config)
    state_path, state_checkpointer = None, None
    if resume_path is not None:
        state_path, state_checkpointer, what = resume_path, checkpointer, "the checkpoint in latest_checkpoint.txt"
    elif what == "checkpoint.load_path" and (bool(ck.load_training_state) or "scheduler" in keys):
        kind = _training_checkpoint_kind(path)
        if kind is not None:
            cls = {"dcp": DistributedCheckpointer, "predict1": Predict1Checkpointer}.get(kind, StandardCheckpointer)
            state_path, state_checkpointer = path, cls(config.checkpoint, config.job)
        elif not bool(ck.load_training_state):
            raise CheckpointError(f"checkpoint.only_load_scheduler_state=True needs checkpoint.load_path to be a "
                                  f"training checkpoint (an iter_* folder or file with its scheduler state); {path} is "
                                  f"a weights file: set checkpoint.only_load_scheduler_state=False")
    whole = state_checkpointer is not None and (resume_path is not None or bool(ck.load_training_state))
    if "model" not in keys:
        whole, path, what = False, mm.dit_path or None, "model.config.model_manager_config.dit_path"
    if whole:
        match = match_weights(model, state_checkpointer.model_path(state_path), require_all=True,
                              allow_missing=not bool(config.checkpoint.strict_resume), what=what)
    elif path is None:
        match = None
    else:
        prefer_ema = bool(config.checkpoint.load_ema_to_reg if what == "checkpoint.load_path"
                          else mm.load_ema_to_reg)
        match = match_weights(model, path, prefer_ema=prefer_ema, new_modules=mm.new_modules,
                              what=what)
    return match, state_path, state_checkpointer


def _materialize(model, match, template, device: torch.device, seed: int):
    """Allocate the nets' shards, initialise what the file does not provide, load the rest (step 7)."""
    from cosmos_predict2.checkpoint.weights import load_weights
    from cosmos_predict2.parallel.materialize import copy_parameters_, init_parameters_

    nets = [m for m in (getattr(model, "net", None), getattr(model, "net_ema", None)) if m is not None]
    for net in nets:
        net.to_empty(device=device)
    needs = None if match is None else match.needs_init("net")
    if needs is None or needs:
        init_parameters_(model.net, template, seed, device, only=needs)
    if match is not None:
        return load_weights(model, match, progress=du.is_rank0())
    if getattr(model, "net_ema", None) is not None:
        copy_parameters_(model.net_ema, model.net)
    return None


def _log_job_dir_notes(config: Any) -> None:
    """Say where checkpoints go when that is easy to get wrong (rank 0)."""
    from cosmos_predict2.configs.schema import OUTPUT_ROOT_ENV, P25_OUTPUT_ROOT

    if not du.is_rank0():
        return
    if not any(os.environ.get(k) for k in OUTPUT_ROOT_ENV) and config.job.default_output_root == P25_OUTPUT_ROOT:
        log.warning("IMAGINAIRE_OUTPUT_ROOT is not set: checkpoints go to %s (Predict2.5's default). Set "
                    "IMAGINAIRE_OUTPUT_ROOT to a disk with room for them.", config.job.path_local)
    template = getattr(config.job, "name_template", "")
    if "${now:" in template:
        log.warning("job.name %r contains ${now:...}: every launch starts a new job folder and does not resume the "
                    "previous one; pin the name (job.name=NAME) to resume", template)


def _previous_job_config(config) -> Optional[str]:
    """The job's earlier ``config.yaml`` when this launch resumes a checkpoint of it (else None)."""
    from cosmos_predict2.checkpoint.base import read_latest

    path = os.path.join(config.job.path_local, "config.yaml")
    return path if os.path.isfile(path) and read_latest(config.job.checkpoint_dir) is not None else None


def build(config, options: Optional[LaunchOptions] = None):
    """Build every training object; returns the :class:`Trainer`, or None when a resumed run has nothing left
    to do (collective: call on every rank)."""
    from cosmos_predict2.checkpoint.base import NoCheckpointer, parse_iteration, resume_keys
    from cosmos_predict2.configs.action_data import fill_action_normalization
    from cosmos_predict2.configs.compose import write_config_yaml
    from cosmos_predict2.configs.validate import validate_config
    from cosmos_predict2.parallel.mesh import build_parallel_dims
    from cosmos_predict2.parallel.parallelize import parallelize_model
    from cosmos_predict2.trainer.data_scan import scan_loaders
    from cosmos_predict2.trainer.memory_plan import build_memory_plan, check_memory_plan
    from cosmos_predict2.trainer.metrics import count_params
    from cosmos_predict2.trainer.trainer import Trainer, seed_all

    options = options or LaunchOptions()
    rank, world = du.init_distributed()
    setup_logging(rank)
    for note in validate_config(config, world):
        log.info(note)
    # LeRobot data: the action statistics of the training episodes (cached) go into the dataset nodes, so the
    # job's config.yaml, validation and every converted checkpoint carry the normalisation training used
    norm = fill_action_normalization(config, progress=du.is_rank0() and bool(config.trainer.progress_bar),
                                     resumed_from=_previous_job_config(config))
    if norm is not None and du.is_rank0():
        log.info("action normalisation: %s", norm.describe())
    config.freeze()
    mcfg = model_config(config)
    dims = build_parallel_dims(world, mcfg.fsdp_shard_size, int(config.model_parallel.context_parallel_size),
                               du.device_type())
    job_dir = config.job.path_local
    _log_job_dir_notes(config)
    device = du.current_device()
    seed = int(config.trainer.seed)
    checkpointer = (instantiate(config.checkpoint.type, config_checkpoint=config.checkpoint, config_job=config.job)
                    if config.checkpoint.type is not None else NoCheckpointer(config.checkpoint, config.job))
    checkpointer.recover()  # an interrupted run's finished save is published, a half-written one removed
    resume_path = checkpointer.latest_path()
    keys = resume_keys(config.checkpoint, resume_path is not None)
    done = parse_iteration(resume_path) if resume_path is not None and "trainer" in keys else None
    if done is not None and done >= int(config.trainer.max_iter) and not options.build_only:
        if du.is_rank0():
            print(f"nothing to do: {resume_path} is at iteration {done}, trainer.max_iter={config.trainer.max_iter}; "
                  f"raise trainer.max_iter to train further. {_convert_hint(resume_path)}", flush=True)
        return None

    plan = build_memory_plan(config, world)
    if du.is_rank0():
        log.info("job directory %s (config: %s, memory plan: %s)", job_dir, write_config_yaml(config, job_dir),
                 plan.write(os.path.join(job_dir, "memory_plan.json")))
        for line in plan.lines():
            log.info(line)
    for warning in check_memory_plan(plan, config, device, options.build_only):
        if du.is_rank0():
            log.warning(warning)
    if device.type == "cpu" and mcfg.precision in ("bfloat16", "bf16") and \
            not cpu_has_native_bf16() and du.is_rank0():
        log.warning("this CPU has no native bfloat16 (no AVX512_BF16 / AMX): bf16 matmuls run about 100x slower "
                    "than float32 here; set model.config.precision=float32")

    # the net on the meta device and its weights file matched first (metadata only, seconds): a file that does
    # not fit the net's options fails before the data scan or any allocation
    seed_all(seed)
    model = instantiate(config.model, init_device="meta")
    match, state_path, state_checkpointer = _match_source(config, model, checkpointer, resume_path, keys)
    dl_kwargs = dict(dp_rank=dims.dp_rank, dp_world_size=dims.dp, seed=seed)
    dataloader_train = instantiate(config.dataloader_train, **dl_kwargs)
    dataloader_val = None
    if config.dataloader_val is not None and bool(config.trainer.run_validation):
        dataloader_val = instantiate(config.dataloader_val, **dl_kwargs)
    # every file those datasets read, before any allocation (rank 0 scans; cached per file)
    scan_loaders([("dataloader_train", dataloader_train), ("dataloader_val", dataloader_val)], job_dir,
                 progress=du.is_rank0() and bool(config.trainer.progress_bar))
    for name, loader in (("dataloader_train", dataloader_train), ("dataloader_val", dataloader_val)):
        describe = getattr(getattr(loader, "dataset", None), "describe", None)
        if callable(describe) and du.is_rank0():
            log.info("%s: %s", name, describe())
    template = copy.deepcopy(model.net)  # meta: an unparallelised copy to initialise units from (no memory)
    move_except_nets(model, device)
    parallelize_model(model, dims, mcfg.precision, mcfg.activation_checkpointing)
    report = _materialize(model, match, template, device, seed)
    del template

    optimizer = instantiate(config.optimizer, model=model)
    scheduler = instantiate(config.scheduler, optimizer=optimizer) if config.scheduler is not None else None
    callbacks = [instantiate(node) for node in (config.trainer.callbacks or {}).values()]
    trainer = Trainer(config, model, optimizer, scheduler, dataloader_train, dataloader_val, checkpointer, callbacks,
                      dims=dims, job_dir=job_dir, device=device)
    trainer.reseed(0)
    if state_path is not None:
        state = state_checkpointer.load_training_state(state_path, model, optimizer if "optim" in keys else None,
                                                       scheduler if "scheduler" in keys else None)
        if "trainer" in keys:
            trainer.load_trainer_state(state)
        log.info("restored %s of %s; starting at iteration %d", sorted(keys), state_path, trainer.iteration)
        if resume_path is not None and "trainer" not in keys:
            log.warning("checkpoint.keys_not_to_resume excludes 'trainer': this run counts from iteration 0 again; "
                        "remove it before relaunching this job, or the relaunch restarts from 0 once more")
    if du.is_rank0():
        total = count_params(model.net)
        trainable = sum(p.numel() for p in model.net.parameters() if p.requires_grad)
        log.info("start: device %s; %s; net %.4g M parameters (%.4g M trainable)%s", device, dims.describe(),
                 total / 1e6, trainable / 1e6, "; EMA net" if getattr(model, "net_ema", None) is not None else "")
        if report is not None:
            log.info(report.summary())
        elif options.random_init:
            log.warning("model.config.model_manager_config.dit_path='' was given: training from RANDOM weights "
                        "(seed %d), not from released weights", seed)
        else:
            log.info("weights: random initialisation (seed %d; the experiment names no base weights)", seed)
    return trainer


def _convert_hint(path: Optional[str]) -> str:
    """The converter command for a training checkpoint (a DCP iteration folder or a standard iter_N.pt)."""
    if not path:
        return "No checkpoint was written (ckpt_type=dummy or checkpoint.save_iter beyond max_iter)."
    from cosmos_predict2.checkpoint.weights import resolve_checkpoint

    kind, model_path = resolve_checkpoint(path)
    if kind == "predict1":  # ckpt_type=fsdp: the EMA file is already a weights file (the Predict1 guide copies it)
        ema = model_path[: -len("_reg_model.pt")] + "_ema_model.pt"
        if os.path.isfile(ema):
            return (f"EMA weights for inference: {ema} (copy it to checkpoints/<name>/model.pt, or pass it as "
                    f"--dit_path / --checkpoint-path).")
    out = os.path.dirname(model_path) if kind == "dcp" else os.path.splitext(model_path)[0]
    return f"Convert it: python scripts/convert_distcp_to_pt.py {model_path} {out}"


def build_only_summary(trainer) -> str:
    """One line per rank: device, parameters (local shards / global), measured peak host RSS and accelerator memory."""
    from cosmos_predict2.checkpoint.weights import peak_rss_gib
    from cosmos_predict2.parallel.materialize import local_tensor

    params = [p for m in (trainer.model.net, getattr(trainer.model, "net_ema", None)) if m is not None
              for p in m.parameters()]
    local = sum(local_tensor(p).numel() for p in params)
    total = sum(p.numel() for p in params)
    line = (f"build-only rank {du.get_rank()}/{du.get_world_size()}: device {trainer.device}; parameters {local / 1e6:.1f} M "
            f"local of {total / 1e6:.1f} M (net{' + EMA' if len(params) > len(list(trainer.model.net.parameters())) else ''}); "
            f"peak host RSS {peak_rss_gib():.2f} GiB")
    if torch.cuda.is_available():
        line += f"; peak accelerator memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    return line


def launch(config, options: Optional[LaunchOptions] = None) -> int:
    """Preflight, then train with ``config``; returns the process exit code (0 ok, 2 user error, 3 non-finite
    loss or an iteration over ``trainer.timeout_period``)."""
    from cosmos_predict2.configs.preflight import PreflightError, check_preflight

    options = options or LaunchOptions()
    debug = os.environ.get("COSMOS_DEBUG", "") not in ("", "0")
    try:  # every rank, before the process group and the heavy imports: all missing files in one message
        check_preflight(config)
    except PreflightError as err:
        if debug:
            raise
        if int(os.environ.get("RANK", "0")) == 0:  # every rank finds the same files missing: say it once
            print(f"error: {err}", file=sys.stderr)
        else:
            _give_rank0_time_to_report()
        return 2
    from cosmos_predict2.trainer.iteration_watchdog import IterationTimeoutError
    from cosmos_predict2.trainer.trainer import NonFiniteLossError

    t0 = time.time()
    try:
        trainer = build(config, options)
        if trainer is None:
            return 0
        if options.build_only:
            print(build_only_summary(trainer), flush=True)
            du.barrier()
            if du.is_rank0():
                print(f"build-only: everything up to the first step works for world size {du.get_world_size()}; "
                      f"start training with the same command without --build-only", flush=True)
            return 0
        trainer.train()
        if du.is_rank0():
            last = trainer.checkpointer.latest_path() if trainer.checkpointer is not None else None
            print(f"done: iteration {trainer.iteration} ({trainer.iteration - trainer.start_iteration} this run) in "
                  f"{(time.time() - t0) / 60:.1f} min; last checkpoint {last or 'none'}. {_convert_hint(last)}",
                  flush=True)
        return 0
    except (NonFiniteLossError, IterationTimeoutError) as err:
        print(f"error{_rank_tag()}: {err}", file=sys.stderr)
        if debug:
            raise
        return 3
    except (ValueError, ImportError, FileNotFoundError) as err:
        if debug or not _is_user_error(err):
            raise
        if not getattr(err, "print_once", False):
            print(f"error{_rank_tag()}: {err}", file=sys.stderr)
        elif du.is_rank0():  # the same on every rank (the dataset scan's verdict): said once
            print(f"error: {err}", file=sys.stderr)
        else:
            _give_rank0_time_to_report()
        return 2
    finally:
        du.destroy_distributed()


REPORT_GRACE_S = 3.0


def _give_rank0_time_to_report() -> None:
    """A rank that leaves an error said once by rank 0 waits a moment first: torchrun stops every worker as soon
    as one exits, which could kill rank 0 before it printed the message."""
    time.sleep(REPORT_GRACE_S)


def _rank_tag() -> str:
    return f" (rank {du.get_rank()})" if du.get_world_size() > 1 else ""


def _raised_by_project(err: BaseException) -> bool:
    """True when the innermost frame of ``err`` is in this package (not in torch or another library)."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and os.path.abspath(last).startswith(package_dir + os.sep)


def _is_user_error(err: BaseException) -> bool:
    """ValueError-style errors this project raises about user input (config, data, checkpoint, attention
    backend). A ValueError from inside torch or another library is a bug: it keeps its traceback."""
    from cosmos_predict2.checkpoint.weights import CheckpointError
    from cosmos_predict2.lazy_config.errors import ConfigError
    from cosmos_predict2.data.errors import DataError
    from cosmos_predict2.models.attention import AttentionBackendUnavailable

    if isinstance(err, (ConfigError, DataError, CheckpointError, AttentionBackendUnavailable)):
        return True
    return isinstance(err, (ValueError, FileNotFoundError)) and _raised_by_project(err)
