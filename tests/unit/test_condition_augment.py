"""ConditionFrameBlur: the blur against scipy's Gaussian filter (float64), what it touches, and its use by
Video2WorldModel (training steps only)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from cosmos_predict2.diffusion.condition_augment import ConditionFrameBlur, gaussian_blur_hw
from cosmos_predict2.lazy_config import L
from cosmos_predict2.pipelines.video2world_model import Video2WorldModel
from tests.unit.test_world_model import make_batch, make_config


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5])
def test_blur_matches_scipy_gaussian(sigma):
    radius = 3
    x = torch.randn(2, 3, 2, 7, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = gaussian_blur_hw(x, torch.tensor([sigma, 0.0], dtype=torch.float64), radius)
    # scipy: same truncated, normalised kernel when radius == int(truncate * sigma + 0.5); 'nearest' = replicate
    ref = gaussian_filter1d(gaussian_filter1d(x[0].numpy(), sigma, axis=-1, mode="nearest", truncate=radius / sigma),
                            sigma, axis=-2, mode="nearest", truncate=radius / sigma)
    np.testing.assert_allclose(ours[0].numpy(), ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours[1], x[1], rtol=0, atol=1e-12)  # sigma 0 -> identity


def test_blur_only_conditioning_frames_of_chosen_samples():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, 3, 6, 6, generator=g)
    mask = torch.zeros(4, 1, 3, 1, 1)
    mask[:, :, 0] = 1
    out = ConditionFrameBlur(prob=1.0, max_sigma=1.5)(x, mask, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out[:, :, 1:], x[:, :, 1:], rtol=0, atol=0)  # frames to predict untouched
    changed = (out[:, :, 0] - x[:, :, 0]).abs().amax(dim=(1, 2, 3)) > 1e-3  # sigma ~ U(0, 1.5): ~0 is a no-op
    assert int(changed.sum()) >= 3
    # a blur keeps each channel's mean of a frame close (replicate padding) and lowers its variance
    assert out[:, :, 0].var() < x[:, :, 0].var()
    same = ConditionFrameBlur(prob=0.0, max_sigma=1.5)(x, mask, torch.Generator().manual_seed(1))
    assert same is x


def test_blur_rejects_bad_settings():
    with pytest.raises(ValueError, match="prob must be in"):
        ConditionFrameBlur(prob=1.5)
    with pytest.raises(ValueError, match="max_sigma must be > 0"):
        ConditionFrameBlur(max_sigma=0.0)


def test_model_applies_augment_in_training_not_validation():
    cfg = make_config("p2", ema=False)
    torch.manual_seed(0)
    plain = Video2WorldModel(cfg)
    augmented = Video2WorldModel(dict(cfg, condition_augment=L(ConditionFrameBlur)(prob=1.0, max_sigma=1.5)))
    augmented.load_state_dict(plain.state_dict())
    batch = make_batch()

    def loss(model, step):
        torch.manual_seed(5)
        with torch.no_grad():
            return step(model)(batch, 0, torch.Generator().manual_seed(3))[0].item()

    assert loss(augmented, lambda m: m.validation_step) == loss(plain, lambda m: m.validation_step)
    assert loss(augmented, lambda m: m.training_step) != loss(plain, lambda m: m.training_step)
    assert loss(plain, lambda m: m.training_step) == loss(plain, lambda m: m.validation_step)
