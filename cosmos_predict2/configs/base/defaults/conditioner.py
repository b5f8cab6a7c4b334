"""Group ``conditioner`` (package ``model.config.conditioner``).

Predict2.5 defaults: text dropout 0.2 (zeroed embedding, not the empty string), video-condition
dropout 0.2 for the base video models and 0.0 for the action-conditioned ones.
"""

from __future__ import annotations

from cosmos_predict2.configs.registry import register_group_option
from cosmos_predict2.lazy_config import L

CONDITIONER = "cosmos_predict2.diffusion.conditioner.VideoConditioner"


def conditioner(text_dropout_rate: float = 0.2, video_dropout_rate: float = 0.2, use_action: bool = False):
    return L(CONDITIONER)(
        text_dropout_rate=text_dropout_rate,
        use_video_condition_dropout_rate=video_dropout_rate,
        use_empty_string=False,
        use_action=use_action,
    )


def register() -> None:
    register_group_option("conditioner", "video_prediction_conditioner", conditioner(0.2, 0.2))
    register_group_option("conditioner", "video_prediction_conditioner_v2", conditioner(0.2, 0.0))
    register_group_option("conditioner", "action_conditioned_video_conditioner", conditioner(0.0, 0.0, use_action=True))
