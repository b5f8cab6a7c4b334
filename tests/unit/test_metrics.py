"""Evaluation metrics against independent references: direct float64 PSNR, scikit-image SSIM, latent L2,
dynamic PSNR from its definition."""

import logging
import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from cosmos_predict2.evaluation.metrics import (
    capped_mean_psnr,
    dynamic_mask,
    dynamic_psnr,
    episode_scores,
    frame_metrics,
    latent_l2,
    psnr_per_frame,
    ssim_per_frame,
)
from cosmos_predict2.tokenizers.tiny_tokenizer import TinyVideoTokenizer


def _sk_ssim(a, b):
    return structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def _structured(seed, t=3, h=40, w=56):
    """Smooth gradients + rectangles + a little noise: image statistics unlike pure noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], -1)
        y0, x0 = rng.integers(0, h - 10), rng.integers(0, w - 10)
        base[y0:y0 + 10, x0:x0 + 14] = rng.integers(0, 256, 3)
        out[i] = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    return out


def test_psnr_matches_direct_float64_formula_and_skimage():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    got = psnr_per_frame(pred, gt)
    assert got.dtype == np.float64 and got.shape == (4,)
    for i in range(4):
        mse = np.mean((pred[i].astype(np.float64) - gt[i].astype(np.float64)) ** 2)
        assert got[i] == pytest.approx(10 * math.log10(255.0**2 / mse), abs=1e-10)
        assert got[i] == pytest.approx(peak_signal_noise_ratio(gt[i], pred[i], data_range=255), abs=1e-10)
    # known image pair: constant offset of 5 grey levels -> MSE 25
    a = np.full((1, 16, 16, 3), 100, np.uint8)
    assert psnr_per_frame(a + 5, a)[0] == pytest.approx(10 * math.log10(255.0**2 / 25.0), abs=1e-12)


def test_identical_frames_give_inf_psnr_and_unit_ssim_and_capped_mean():
    a = _structured(1, t=2)
    assert np.isinf(psnr_per_frame(a, a)).all()
    assert np.allclose(ssim_per_frame(a, a), 1.0, atol=1e-12)
    assert capped_mean_psnr([np.inf, 30.0]) == pytest.approx(65.0)
    assert math.isnan(capped_mean_psnr([]))


@pytest.mark.parametrize("kind", ["random", "structured", "noisy_copy"])
def test_ssim_matches_scikit_image(kind):
    rng = np.random.default_rng(3)
    if kind == "random":
        gt = rng.integers(0, 256, (3, 33, 47, 3), dtype=np.uint8)
        pred = rng.integers(0, 256, (3, 33, 47, 3), dtype=np.uint8)
    elif kind == "structured":
        gt, pred = _structured(4), _structured(5)
    else:
        gt = _structured(6)
        pred = np.clip(gt.astype(int) + rng.integers(-12, 13, gt.shape), 0, 255).astype(np.uint8)
    got = ssim_per_frame(pred, gt)
    ref = np.array([_sk_ssim(pred[i], gt[i]) for i in range(len(gt))])
    np.testing.assert_allclose(got, ref, atol=1e-9, rtol=0)


def test_prediction_is_resized_to_gt_size():
    gt = _structured(7, t=2, h=32, w=40)
    big = np.repeat(np.repeat(gt, 2, axis=1), 2, axis=2)  # (2, 64, 80, 3), exact 2x nearest upsample
    assert psnr_per_frame(big, gt).min() > 30  # resized back to 32x40: close to the GT
    assert ssim_per_frame(big, gt).shape == (2,)
    with pytest.raises(ValueError, match="frames"):
        psnr_per_frame(gt[:1], gt)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_per_frame(gt[:, :8, :8], gt[:, :8, :8])


def test_frame_metrics_exclude_frame_zero():
    gt = _structured(8, t=4)
    pred = gt.copy()
    pred[0] = 255 - pred[0]  # frame 0 badly wrong: must not count
    pred[2] = np.clip(pred[2].astype(int) + 10, 0, 255)
    m = frame_metrics(pred, gt)
    assert list(m["frame"]) == [1, 2, 3]
    assert np.isinf(m["psnr"][0]) and np.isinf(m["psnr"][2]) and np.isfinite(m["psnr"][1])
    assert m["ssim"][0] == pytest.approx(1.0)
    full = frame_metrics(pred, gt, skip_first=False)
    assert list(full["frame"]) == [0, 1, 2, 3] and full["psnr"][0] < 10
    with pytest.raises(ValueError, match="nothing to score"):
        frame_metrics(gt[:1], gt[:1])


def test_latent_l2_definition_with_tiny_tokenizer():
    tok = TinyVideoTokenizer()
    gt = _structured(9, t=11, h=32, w=48)  # 11 frames -> truncated to 9 = 1 + 4*2 -> 2 latent frames scored
    pred = gt.copy()
    pred[5:] = np.clip(pred[5:].astype(int) + 30, 0, 255)  # only pixel frames 5.. differ
    out = latent_l2(tok, pred, gt)
    assert out["per_latent_frame"].shape == (2,) and list(out["last_pixel_frame"]) == [4, 8]
    # independent recomputation: encode each clip separately, drop latent frame 0, element-mean square
    enc = lambda v: tok.encode(torch.from_numpy(v[:9]).permute(3, 0, 1, 2)[None].float() / 127.5 - 1)[0].double()
    d = ((enc(pred) - enc(gt)) ** 2).mean(dim=(0, 2, 3))[1:].numpy()
    np.testing.assert_allclose(out["per_latent_frame"], d, rtol=1e-6, atol=1e-12)
    assert out["per_latent_frame"][0] == pytest.approx(0.0, abs=1e-10)  # causal: frames 1-4 identical
    assert out["per_latent_frame"][1] > 1e-3 and out["mean"] == pytest.approx(d.mean())
    again = latent_l2(tok, pred, gt, gt_latent=out["gt_latent"])  # cached GT latents give the same numbers
    np.testing.assert_array_equal(again["per_latent_frame"], out["per_latent_frame"])
    assert latent_l2(tok, pred, pred)["mean"] == 0.0
    assert math.isnan(latent_l2(tok, gt[:4], gt[:4])["mean"])


def _ref_dynamic_psnr(pred_C_T_H_W, gt_C_T_H_W, percentile=80.0):
    """Dynamic PSNR straight from its definition (channel-first clip; uint8 -> range 255, float [-1, 1] -> 2):
    returns (psnr, (T, H, W) mask, squared error (C, T, H, W))."""
    data_range = 255.0 if gt_C_T_H_W.dtype == np.uint8 else 2.0
    g, p = gt_C_T_H_W.astype(np.float64), pred_C_T_H_W.astype(np.float64)
    motion = np.abs(g[:, 1:] - g[:, :-1]).mean(axis=0)  # (T-1, H, W)
    moving = motion > np.percentile(motion, percentile)
    mask = np.concatenate([moving[:1], moving], axis=0)  # frame 0 takes frame 1's mask
    err = (p - g) ** 2
    mse = err[:, mask].mean() if mask.any() else err.mean()
    return (math.inf if mse == 0 else 20 * math.log10(data_range / math.sqrt(mse))), mask, err


@pytest.mark.parametrize("kind", ["uint8", "float"])
@pytest.mark.parametrize("percentile", [80.0, 50.0])
def test_dynamic_psnr_matches_definition(kind, percentile):
    rng = np.random.default_rng(11)
    if kind == "uint8":
        gt = rng.integers(0, 256, (3, 6, 20, 24), dtype=np.uint8)
        prev = np.concatenate([gt[:, :1], gt[:, :-1]], axis=1)  # error follows the GT motion
        pred = np.clip(prev.astype(int) + rng.integers(-8, 9, gt.shape), 0, 255).astype(np.uint8)
        data_range = 255.0
    else:
        gt = rng.uniform(-1, 1, (3, 6, 20, 24))
        prev = np.concatenate([gt[:, :1], gt[:, :-1]], axis=1)
        pred = np.clip(prev + rng.normal(0, 0.05, gt.shape), -1, 1)
        data_range = 2.0
    ref, ref_mask, err = _ref_dynamic_psnr(pred, gt, percentile)
    frames = lambda v: np.ascontiguousarray(v.transpose(1, 2, 3, 0))  # (C, T, H, W) -> (T, H, W, C)
    p, g = frames(pred), frames(gt)
    # skip_first=False: the definition itself (frame 0 scored with frame 1's mask)
    got = dynamic_psnr(p, g, percentile, skip_first=False, data_range=data_range)
    assert got == pytest.approx(ref, abs=1e-9)
    np.testing.assert_array_equal(dynamic_mask(g, percentile, skip_first=False), ref_mask)
    assert 0.1 < ref_mask.mean() < 0.6  # a real mask, not all / nothing
    # skip_first=True: the same mask without frame 0's row, MSE over frames 1..T-1 only
    np.testing.assert_array_equal(dynamic_mask(g, percentile), ref_mask[1:])
    mse = err[:, 1:][:, ref_mask[1:]].mean()
    assert dynamic_psnr(p, g, percentile, data_range=data_range) == pytest.approx(
        20 * math.log10(data_range / math.sqrt(mse)), abs=1e-9)
    # a precomputed GT mask gives the same value; a mask of another shape is refused
    assert dynamic_psnr(p, g, data_range=data_range, mask=ref_mask[1:]) == pytest.approx(
        dynamic_psnr(p, g, percentile, data_range=data_range), abs=0)
    with pytest.raises(ValueError, match="mask has shape"):
        dynamic_psnr(p, g, mask=ref_mask)


def test_dynamic_psnr_moving_square_on_static_background():
    rng = np.random.default_rng(12)
    t, h, w = 6, 32, 40
    background = rng.integers(0, 200, (h, w, 3), dtype=np.uint8)
    gt = np.repeat(background[None], t, axis=0)
    square = np.zeros((t, h, w), bool)
    for i in range(t):
        square[i, 10:15, 4 + 2 * i: 9 + 2 * i] = True  # 5x5 square moving 2 px right per frame
        gt[i][square[i]] = (255, 0, 255)
    changed = square[1:] ^ square[:-1]  # (T-1, H, W): pixels the square leaves or enters
    assert changed.mean() < 0.2
    np.testing.assert_array_equal(dynamic_mask(gt), changed)
    copy = np.repeat(gt[:1], t, axis=0)  # copy-last-frame prediction
    err = (copy[1:].astype(np.float64) - gt[1:]) ** 2
    expected = 10 * math.log10(255.0**2 / err[changed].mean())
    dyn = dynamic_psnr(copy, gt)
    assert dyn == pytest.approx(expected, abs=1e-9)
    plain = capped_mean_psnr(frame_metrics(copy, gt)["psnr"])
    assert dyn < plain - 10  # the frozen prediction is wrong exactly where the scene moves
    assert math.isinf(dynamic_psnr(gt, gt))
    scores = episode_scores(copy, gt)
    assert scores["dynamic_psnr"] == pytest.approx(dyn) and scores["psnr_mean"] == pytest.approx(plain)


def test_dynamic_psnr_of_static_gt_falls_back_to_plain_psnr(caplog):
    rng = np.random.default_rng(13)
    gt = np.repeat(rng.integers(0, 256, (1, 16, 20, 3), dtype=np.uint8), 5, axis=0)
    pred = np.clip(gt.astype(int) + rng.integers(-10, 11, gt.shape), 0, 255).astype(np.uint8)
    assert not dynamic_mask(gt).any()
    with caplog.at_level(logging.WARNING, logger="cosmos_predict2.evaluation.metrics"):
        got = dynamic_psnr(pred, gt)
    assert "no dynamic pixel" in caplog.text
    mse = np.mean((pred[1:].astype(np.float64) - gt[1:]) ** 2)  # frames 1.. only, every pixel
    assert got == pytest.approx(10 * math.log10(255.0**2 / mse), abs=1e-9)
    mse_all = np.mean((pred.astype(np.float64) - gt) ** 2)
    assert dynamic_psnr(pred, gt, skip_first=False) == pytest.approx(10 * math.log10(255.0**2 / mse_all), abs=1e-9)
    with pytest.raises(ValueError, match="at least 2 frames"):
        dynamic_psnr(gt[:1], gt[:1])
