"""The action-conditioned conditioner: actions go to the net, text is not used (zero embeddings),
exactly one conditioning latent frame (the first camera frame) and no video-condition dropout."""

from cosmos_predict2.configs.base.defaults.conditioner import conditioner
from cosmos_predict2.configs.registry import register_group_option


def register() -> None:
    register_group_option("conditioner", "action_conditioned_video_conditioner", conditioner(0.0, 0.0, use_action=True))
