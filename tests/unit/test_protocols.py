"""Named evaluation protocols against independent implementations of their sources' recipes: OpenCV's grayscale
conversion, scikit-image's default SSIM, IRASim's resize direction, frame pairing and per-video averaging."""

import json
import logging

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from cosmos_predict2.evaluation.episodes import EvalEpisode
from cosmos_predict2.evaluation.evaluate import evaluate
from cosmos_predict2.evaluation.metrics import gray_frames, resize_frames, ssim_per_frame, to_frames
from cosmos_predict2.evaluation.protocols import PROTOCOLS, get_protocol, protocol_clips, score_frames
from cosmos_predict2.evaluation.report import format_table

# RGB pixels and what OpenCV returns for them: cv2.cvtColor(rgb[..., ::-1], cv2.COLOR_BGR2GRAY), i.e. the frame
# as cv2.VideoCapture decodes it (BGR), pinned from a one-time run of opencv-python-headless 4.10.0.84 and 5.0.0.93
# (identical). The last six disagree with the 14-bit formula, with rint(0.299 R + 0.587 G + 0.114 B) and with the
# R/B-swapped weights, so each of those would fail here.
_OPENCV_RGB = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (60, 62, 212), (200, 216, 122),
               (113, 166, 248), (183, 199, 105), (111, 213, 20), (22, 195, 4)]
_OPENCV_GRAY = [76, 150, 29, 255, 78, 201, 159, 184, 161, 122]


def _cv_gray(rgb_H_W_3):
    """OpenCV's 8-bit BGR2GRAY on the BGR-ordered frame: (B*3735 + G*19235 + R*9798 + 2^14) >> 15."""
    bgr = np.asarray(rgb_H_W_3, np.int64)[..., ::-1]
    return ((bgr[..., 0] * 3735 + bgr[..., 1] * 19235 + bgr[..., 2] * 9798 + 16384) >> 15).astype(np.uint8)


def _aa_bilinear(img_H_W_C, size):
    """Antialiased bilinear resize from its definition (triangle filter stretched by the scale when shrinking,
    weights renormalised at the borders), float64 before torchvision's rounding to uint8."""
    def matrix(n_in, n_out):
        scale = n_in / n_out
        support = max(scale, 1.0)
        centers = (np.arange(n_out) + 0.5) * scale
        w = np.clip(1 - np.abs((np.arange(n_in)[None] + 0.5 - centers[:, None]) / support), 0, None)
        return w / w.sum(axis=1, keepdims=True)
    mh, mw = matrix(img_H_W_C.shape[0], size[0]), matrix(img_H_W_C.shape[1], size[1])
    return np.einsum("ih,hwc,jw->ijc", mh, np.asarray(img_H_W_C, np.float64), mw)


def _check_resize(frames, size):
    """resize_frames == the definition rounded, except where the exact value is a .5 tie (float error decides
    those, in torch float32 as in torchvision); returns resize_frames' uint8 frames."""
    got = resize_frames(to_frames(frames), size).numpy()
    ref = np.stack([_aa_bilinear(f, size) for f in frames])
    tie = np.abs(ref - np.floor(ref) - 0.5) < 1e-6
    np.testing.assert_array_equal(got[~tie], np.rint(ref[~tie]))
    assert np.abs(got - ref)[tie].max(initial=0) <= 0.5 + 1e-6 and tie.mean() < 0.2  # most values are no tie
    return got.astype(np.uint8)


def _frames(seed, t, h=24, w=32, spread=40):
    """Smooth scene + per-frame noise of amplitude ``spread`` (no two frames identical)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], -1)
    return np.clip(base + rng.normal(0, spread, (t, h, w, 3)), 0, 255).astype(np.uint8)


def _episode(key, n_actions, seed, spread=40):
    return EvalEpisode(key, _frames(seed, n_actions + 1, spread=spread),
                       np.random.default_rng(seed).normal(size=(n_actions, 7)).astype(np.float32))


def test_gray_frames_are_opencv_bgr2gray_of_the_decoded_frame():
    rgb = np.array(_OPENCV_RGB, np.uint8)[None, None]  # (1, 1, 10, 3)
    got = gray_frames(rgb)
    assert got.shape == (1, 1, 10, 1)
    assert got[0, 0, :, 0].tolist() == _OPENCV_GRAY
    assert _cv_gray(rgb[0]).ravel().tolist() == _OPENCV_GRAY  # the test's own formula reproduces OpenCV too
    frames = _frames(0, 3)
    np.testing.assert_array_equal(gray_frames(frames)[..., 0].numpy(), np.stack([_cv_gray(f) for f in frames]))
    luma = frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(gray_frames(frames)[..., 0].numpy() - luma).max() <= 0.51  # BT.601 luma, rounded


@pytest.mark.parametrize("channels", [1, 3])
def test_uniform_ssim_is_scikit_image_defaults(channels):
    a, b = _frames(1, 2, 29, 37), _frames(2, 2, 29, 37, spread=20)
    if channels == 1:
        a, b = (np.stack([_cv_gray(f) for f in x])[..., None] for x in (a, b))
    got = ssim_per_frame(b, a, window="uniform")
    for i in range(2):
        if channels == 1:  # exactly IRASim's call: structural_similarity(gray_pred, gray_gt)
            ref = structural_similarity(b[i, ..., 0], a[i, ..., 0])
        else:
            ref = structural_similarity(b[i], a[i], channel_axis=-1)
        assert got[i] == pytest.approx(ref, abs=1e-9)
    with pytest.raises(ValueError, match="window"):
        ssim_per_frame(a, b, window="box")


def test_irasim_short_scores_like_its_script():
    """compute_psnr_ssim.process_video_psnr_ssim: skip frame 0, BGR2GRAY, skimage PSNR (data_range 255) and
    default SSIM per frame, mean over the video's frames."""
    gt, pred = _frames(3, 13), _frames(4, 13, spread=25)
    m = score_frames("irasim-short", pred, gt)
    assert list(m["frame"]) == list(range(1, 13))
    psnr = [peak_signal_noise_ratio(_cv_gray(pred[t]), _cv_gray(gt[t]), data_range=255) for t in range(1, 13)]
    ssim = [structural_similarity(_cv_gray(pred[t]), _cv_gray(gt[t])) for t in range(1, 13)]
    np.testing.assert_allclose(m["psnr"], psnr, rtol=0, atol=1e-10)
    np.testing.assert_allclose(m["ssim"], ssim, rtol=0, atol=1e-9)
    colour = score_frames("short", pred, gt)  # this project's protocol: colour frames, Gaussian SSIM
    assert abs(colour["psnr"] - m["psnr"]).max() > 0.1 and abs(colour["ssim"] - m["ssim"]).max() > 0.01
    exact = score_frames("irasim-short", gt, gt)
    assert np.isinf(exact["psnr"]).all()  # no cap


def test_irasim_resizes_the_gt_to_the_prediction_and_ours_the_reverse():
    gt = _frames(5, 6, h=48, w=64)
    pred = _frames(6, 6, h=24, w=32)
    irasim = score_frames("irasim-long", pred, gt)  # also: predicted frame t+1 vs GT frame t
    assert list(irasim["frame"]) == [1, 2, 3, 4]
    small_gt = _check_resize(gt, (24, 32))
    ref = [peak_signal_noise_ratio(small_gt[t], pred[t + 1], data_range=255) for t in range(1, 5)]
    np.testing.assert_allclose(irasim["psnr"], ref, rtol=0, atol=1e-10)
    assert np.isnan(irasim["ssim"]).all()  # IRASim's long script reports no SSIM
    ours = score_frames("cosmos-long", pred, gt)
    big_pred = _check_resize(pred, (48, 64))
    ref = [peak_signal_noise_ratio(gt[t], big_pred[t], data_range=255) for t in range(1, 6)]
    np.testing.assert_allclose(ours["psnr"], ref, rtol=0, atol=1e-10)


def test_clips_of_each_protocol():
    ep = _episode("e", 30, 7)  # 31 frames
    grid = protocol_clips(ep, "irasim-short", 12)  # 13-frame clips starting every 13 frames, complete ones only
    assert [(c.key, c.start, len(c.frames), len(c.actions)) for c in grid] == [("e@0", 0, 13, 12),
                                                                             ("e@13", 13, 13, 12)]
    np.testing.assert_array_equal(grid[1].frames, ep.frames[13:26])
    np.testing.assert_array_equal(grid[1].actions, ep.actions[13:25])
    assert protocol_clips(_episode("s", 11, 8), "irasim-short", 12) == []  # shorter than one clip
    [short] = protocol_clips(_episode("s", 11, 8), "short", 12)
    assert len(short.actions) == 11
    for name in ("long", "cosmos-long", "irasim-long"):
        [c] = protocol_clips(ep, name, 12)
        assert c.key == "e" and len(c.frames) == 31
    assert protocol_clips(_episode("one", 1, 9), "irasim-long", 12) == []  # no (t+1, t) pair to score
    assert get_protocol("long").describe()["same_as"] == "cosmos-long"
    with pytest.raises(ValueError, match="Did you mean: irasim-short"):
        get_protocol("irasim_short")


def test_per_video_average_over_unequal_episodes(tmp_path):
    """IRASim averages each video's frame mean over videos; pooling frames weights long episodes more."""
    episodes = [_episode("a", 4, 10, spread=4), _episode("b", 9, 11, spread=30), _episode("c", 21, 12, spread=70)]
    summary = evaluate(None, episodes, protocols=("irasim-long", "cosmos-long", "irasim-short"),
                       methods=("copy_last_frame",), short_horizon=4, output_dir=str(tmp_path), progress=False,
                       print_table=False)
    per_video, pooled = [], []
    for ep in episodes:
        f0 = ep.frames[0]
        per_video.append(np.mean([peak_signal_noise_ratio(ep.frames[t], f0, data_range=255)
                                  for t in range(1, len(ep.actions))]))  # IRASim's pairs: pred t+1 (= f0), GT t
        pooled += [min(peak_signal_noise_ratio(ep.frames[t], f0, data_range=255), 100.0)
                   for t in range(1, len(ep.frames))]
    irasim = summary["protocols"]["irasim-long"]["copy_last_frame"]
    assert irasim["psnr"] == pytest.approx(np.mean(per_video), abs=1e-10)
    assert irasim["num_frames"] == 3 + 8 + 20 and irasim["ssim"] is None
    cosmos = summary["protocols"]["cosmos-long"]["copy_last_frame"]
    assert cosmos["psnr"] == pytest.approx(np.mean(pooled), abs=1e-10)
    assert abs(irasim["psnr"] - cosmos["psnr"]) > 1.0  # the averaging rule matters on unequal lengths

    clips = [(ep, s) for ep in episodes for s in range(0, len(ep.frames) - 4, 5)]  # 5-frame clips, stride 5
    ref = [np.mean([peak_signal_noise_ratio(_cv_gray(ep.frames[s + t]), _cv_gray(ep.frames[s]), data_range=255)
                    for t in range(1, 5)]) for ep, s in clips]
    short = summary["protocols"]["irasim-short"]["copy_last_frame"]
    assert short["psnr"] == pytest.approx(np.mean(ref), abs=1e-10)
    assert (short["num_episodes"], short["num_clips"], short["num_frames"]) == (3, len(clips), 4 * len(clips))

    saved = json.loads((tmp_path / "summary.json").read_text())
    rules = saved["settings"]["protocols"]
    assert set(rules) == {"irasim-long", "cosmos-long", "irasim-short"}
    assert (rules["irasim-short"]["colour"], rules["irasim-short"]["ssim_window"], rules["irasim-short"]["resize"]) == (
        "gray", "uniform", "gt_to_pred")
    assert rules["irasim-long"]["pred_offset"] == 1 and "compute_psnr" in rules["irasim-long"]["source"]
    assert "no evaluation script" in rules["cosmos-long"]["source"] and saved["warnings"] == []
    assert (tmp_path / "episodes" / "irasim-short" / "c_15.csv").is_file()


def test_shared_clips_are_rolled_out_once():
    calls = []

    def rollout(model, frames_1_H_W_3, actions_N_7, chunk_size=12, guidance=None, seed=0, num_steps=None):
        calls.append(len(actions_N_7))
        return np.repeat(frames_1_H_W_3, len(actions_N_7) + 1, axis=0)

    episodes = [_episode("a", 14, 13), _episode("b", 26, 14)]
    summary = evaluate(None, episodes, protocols=("long", "cosmos-long", "irasim-long", "short", "irasim-short"),
                       methods=("model", "copy_last_frame"), rollout_fn=rollout, progress=False, print_table=False)
    # per episode: the whole episode once (3 protocols) + the first 12 actions once (short and irasim-short's
    # first clip) + irasim-short's second clip of episode b (frames 13..25)
    assert sorted(calls) == sorted([14, 12, 26, 12, 12])
    for name in PROTOCOLS:
        if name in summary["protocols"]:
            by = summary["protocols"][name]
            assert by["model"]["psnr"] == pytest.approx(by["copy_last_frame"]["psnr"])  # the rollout copies frame 0


def test_warns_when_the_model_is_worse_than_copy_last_frame(caplog):
    def inverted(model, frames_1_H_W_3, actions_N_7, **kw):
        return np.repeat(255 - frames_1_H_W_3, len(actions_N_7) + 1, axis=0)

    episodes = [_episode("a", 6, 15, spread=10), _episode("b", 8, 16, spread=10)]
    with caplog.at_level(logging.WARNING, logger="cosmos_predict2.evaluation.evaluate"):
        summary = evaluate(None, episodes, protocols=("long", "irasim-short"), methods=("model", "copy_last_frame"),
                           short_horizon=4, rollout_fn=inverted, progress=False, print_table=False)
    w = summary["warnings"]
    assert len(w) == 4 and all("BELOW copy-last-frame" in line for line in w)
    assert any("protocol long" in line and "on PSNR" in line for line in w)
    assert any("protocol irasim-short" in line and "dynamic PSNR" in line for line in w)
    assert all(line in caplog.text for line in w)
    assert "WARNING: protocol long" in format_table(summary)
    good = evaluate(None, episodes, protocols=("long",), methods=("model", "copy_last_frame"), progress=False,
                    rollout_fn=lambda m, f, a, **kw: episodes[0].frames if len(a) == 6 else episodes[1].frames,
                    print_table=False)
    assert good["warnings"] == [] and good["protocols"]["long"]["model"]["psnr"] == pytest.approx(100.0)


def test_script_protocol_names():
    from scripts.evaluate_action_conditioned import _protocols

    assert _protocols("both") == ["short", "long"]
    assert _protocols("irasim-short, irasim-long,cosmos-long") == ["irasim-short", "irasim-long", "cosmos-long"]
    with pytest.raises(ValueError, match="--protocol: unknown protocol 'irasim'.*Did you mean"):
        _protocols("irasim")
