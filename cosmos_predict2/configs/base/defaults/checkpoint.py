"""Groups ``checkpoint`` and ``ckpt_type`` (package ``checkpoint.type``).

``dcp``: torch.distributed.checkpoint folders ``iter_%09d/{model,optim,scheduler,trainer}``.
``standard``: ``model/iter_%09d.pt`` + ``optim/`` + ``scheduler/`` + ``trainer/``.
``fsdp`` (Predict1's name; ``ckpt_klass=fsdp`` works too): ``iter_%09d_reg_model.pt``, ``iter_%09d_ema_model.pt``,
``iter_%09d_optim.pt`` and ``iter_%09d.pt`` (trainer state) in the checkpoints folder.
All maintain ``latest_checkpoint.txt``, written only after a save is complete.
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L


def register() -> None:
    register_group_option("ckpt_type", "dcp", L("cosmos_predict2.checkpoint.dcp.DistributedCheckpointer")())
    register_group_option("ckpt_type", "standard", L("cosmos_predict2.checkpoint.standard.StandardCheckpointer")())
    register_group_option("ckpt_type", "fsdp", L("cosmos_predict2.checkpoint.predict1.Predict1Checkpointer")())
    register_group_option("ckpt_type", "dummy", L("cosmos_predict2.checkpoint.base.NoCheckpointer")())
    local = dict(save_iter=1000, load_path="", load_training_state=False, strict_resume=True)
    register_group_option("checkpoint", "local", local)
    # Predict2.5 object-store groups: object storage is not built in; they behave like ``local``.
    for name in ("s3", "pbss", "gcp"):
        register_group_option("checkpoint", name, local)
