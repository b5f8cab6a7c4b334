"""Deterministic rasteriser for the synthetic robot scene (numpy, anti-aliased signed distances).

World frame: the table is the plane z = 0 with x to the right and y away from the camera; z is up.
A fixed pinhole camera looks down at the table from the front, so a gripper that is higher (closer
to the camera) is drawn bigger, and its shadow on the table shows where it is in (x, y).
Pixels are a pure function of (scene layout, gripper state, object positions): no noise.
"""

from __future__ import annotations

import numpy as np

from cosmos_predict2.data.actions import euler2rotm

TABLE_HALF = 0.6  # table spans x, y in [-0.6, 0.6]
TABLE_COLOR = np.array([196.0, 186.0, 164.0])
WALL_TOP = np.array([40.0, 48.0, 66.0])
WALL_BOTTOM = np.array([92.0, 104.0, 126.0])
ARM_COLOR = np.array([70.0, 72.0, 82.0])
PALM_COLOR = np.array([24.0, 24.0, 30.0])
FINGER_COLOR = np.array([235.0, 40.0, 205.0])  # magenta (left finger): high contrast on table and objects
FINGER2_COLOR = np.array([255.0, 225.0, 0.0])  # yellow (right finger): makes yaw and yaw + pi look different
FINGER_RADIUS = 0.024
PALM_RADIUS = 0.03
ARM_RADIUS = 0.022
FINGER_LEN = 0.08
MAX_OPEN = 0.075  # half finger spacing when fully open (continuous gripper 0)
MIN_OPEN = 0.022  # ... when fully closed (continuous gripper 1)


class Camera:
    """Pinhole camera at `eye` looking at `target`; `focal` in units of image width."""

    def __init__(self, height: int, width: int, eye=(0.0, -0.95, 1.0), target=(0.0, 0.02, 0.0), focal=1.0):
        self.h, self.w = height, width
        self.eye = np.asarray(eye, dtype=np.float64)
        fwd = np.asarray(target, dtype=np.float64) - self.eye
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        self.R = np.stack([right, down, fwd])  # world -> camera rows
        self.f = focal * width

    def project(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> ((..., 2) pixel (u, v), (...,) depth)."""
        pc = (np.asarray(p, dtype=np.float64) - self.eye) @ self.R.T
        z = pc[..., 2]
        uv = np.stack([self.f * pc[..., 0] / z + self.w / 2, self.f * pc[..., 1] / z + self.h / 2], axis=-1)
        return uv, z


class Canvas:
    """Float RGB image with alpha-blended anti-aliased primitives."""

    def __init__(self, background: np.ndarray):
        self.img = background.astype(np.float64).copy()
        h, w = self.img.shape[:2]
        self.v, self.u = np.mgrid[0:h, 0:w] + 0.5

    def _blend(self, sdf: np.ndarray, color, opacity: float = 1.0) -> None:
        a = np.clip(0.5 - sdf, 0.0, 1.0) * opacity
        self.img += a[..., None] * (np.asarray(color, dtype=np.float64) - self.img)

    def ellipse(self, c, rx: float, ry: float, color, opacity: float = 1.0) -> None:
        rx, ry = max(rx, 0.3), max(ry, 0.3)
        q = np.hypot((self.u - c[0]) / rx, (self.v - c[1]) / ry)
        self._blend((q - 1.0) * min(rx, ry), color, opacity)

    def capsule(self, p0, p1, r: float, color, opacity: float = 1.0) -> None:
        p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
        d = p1 - p0
        L2 = float(d @ d) + 1e-12
        t = np.clip(((self.u - p0[0]) * d[0] + (self.v - p0[1]) * d[1]) / L2, 0.0, 1.0)
        dist = np.hypot(self.u - (p0[0] + t * d[0]), self.v - (p0[1] + t * d[1]))
        self._blend(dist - max(r, 0.5), color, opacity)

    def to_uint8(self) -> np.ndarray:
        return np.clip(np.round(self.img), 0, 255).astype(np.uint8)


def render_background(cam: Camera) -> np.ndarray:
    """Static wall + checkered table, (H, W, 3) float."""
    h, w = cam.h, cam.w
    ramp = (np.arange(h)[:, None, None] + 0.5) / h
    img = np.broadcast_to(WALL_TOP + ramp * (WALL_BOTTOM - WALL_TOP), (h, w, 3)).copy()
    # 3x3 super-sampling of the table edge for anti-aliasing
    acc = np.zeros((h, w, 3))
    for dy in (-1 / 3, 0, 1 / 3):
        for dx in (-1 / 3, 0, 1 / 3):
            hit = _shifted_hits(cam, dx, dy)
            inside = np.all(np.abs(hit) <= TABLE_HALF, axis=-1)
            cell = np.floor(np.nan_to_num(hit, nan=0.0) / 0.15).sum(-1) % 2
            tab = TABLE_COLOR[None, None] - 14.0 * cell[..., None]
            acc += np.where(inside[..., None], tab, img)
    return acc / 9.0


def _shifted_hits(cam: Camera, dx: float, dy: float) -> np.ndarray:
    """(H, W, 2) table-plane (x, y) hit by each pixel's ray shifted by (dx, dy) pixels (nan: misses)."""
    v, u = np.mgrid[0 : cam.h, 0 : cam.w] + 0.5
    u, v = u + dx, v + dy
    d_cam = np.stack([(u - cam.w / 2) / cam.f, (v - cam.h / 2) / cam.f, np.ones_like(u)], axis=-1)
    d = d_cam @ cam.R
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -cam.eye[2] / d[..., 2]
    hit = cam.eye[:2] + t[..., None] * d[..., :2]
    hit[~(t > 0)] = np.nan
    return hit


def render_frame(cam: Camera, background: np.ndarray, state: np.ndarray, grip: float,
                 obj_xy: np.ndarray, obj_radius: np.ndarray, obj_height: np.ndarray,
                 obj_color: np.ndarray, gripper_scale: float = 1.0) -> np.ndarray:
    """One uint8 (H, W, 3) frame: shadow, objects (far to near), then the gripper on top (its fingers, palm,
    arm and opening all ``gripper_scale`` times the default size)."""
    cv = Canvas(background)
    xyz, rpy = np.asarray(state[:3], dtype=np.float64), np.asarray(state[3:6], dtype=np.float64)
    scale = cam.f  # pixels per world unit at depth 1

    # gripper shadow on the table: darker and tighter when the gripper is low
    (sc,), (sd,) = cam.project(np.array([[xyz[0], xyz[1], 0.0]]))
    shadow_r = (0.07 + 0.08 * xyz[2]) * scale / sd
    cv.ellipse(sc, shadow_r, shadow_r * 0.55, (0, 0, 0), opacity=float(np.clip(0.6 - 0.7 * xyz[2], 0.15, 0.6)))

    for i in np.argsort(-obj_xy[:, 1], kind="stable"):  # far objects first
        x, y = obj_xy[i]
        (b, t), (db, dt) = cam.project(np.array([[x, y, 0.0], [x, y, obj_height[i]]]))
        rb = obj_radius[i] * scale / db
        cv.capsule(b, t, rb * 0.98, obj_color[i] * 0.62)
        cv.ellipse(t, obj_radius[i] * scale / dt, obj_radius[i] * scale / dt * 0.62, obj_color[i])

    R = euler2rotm(rpy)
    k = float(gripper_scale)
    half = k * (MIN_OPEN + (MAX_OPEN - MIN_OPEN) * (1.0 - float(np.clip(grip, 0.0, 1.0))))
    finger_len = k * FINGER_LEN
    local = np.array([
        [0.0, 0.0, 0.9],  # arm top (far above, leaves the image)
        [0.0, 0.0, finger_len + 0.02 * k],  # arm bottom / palm centre
        [-half, 0.0, finger_len], [half, 0.0, finger_len],  # finger roots
        [-half, 0.0, 0.0], [half, 0.0, 0.0],  # finger tips (the gripper position)
    ])
    pts = xyz + local @ R.T
    uv, dep = cam.project(pts)
    px = lambda r, i: k * r * scale / dep[i]
    cv.capsule(uv[0], uv[1], px(ARM_RADIUS, 1), ARM_COLOR)
    cv.capsule(uv[2], uv[3], px(PALM_RADIUS, 1), PALM_COLOR)
    cv.capsule(uv[2], uv[4], px(FINGER_RADIUS, 4), FINGER_COLOR)
    cv.capsule(uv[3], uv[5], px(FINGER_RADIUS, 5), FINGER2_COLOR)
    return cv.to_uint8()
