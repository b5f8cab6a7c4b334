"""MuJoCo / MetaWorld access for the simulated robot datasets: environments, end-effector state, camera images.

The simulator is optional (``pip install -e ".[sim]"``: ``mujoco`` + ``metaworld``) and renders offscreen with a
system OpenGL library (OSMesa by default: ``apt-get install libosmesa6``; ``MUJOCO_GL=egl`` uses a GPU's EGL
instead). :func:`require_simulator` checks both before anything is built and raises :class:`SimUnavailable` with
the one command that fixes it.

Conventions: the end-effector state is ``[x, y, z, roll, pitch, yaw]`` of the gripper's tool centre (the midpoint
of the two fingers, MetaWorld's ``tcp_center``, metres, world frame) with the hand body's orientation as ZYX Euler
angles (:func:`cosmos_predict2.data.actions.rotm2euler`, the Bridge convention); the gripper state is 0 (open) ..
1 (closed) from the distance between the fingers. Images are upright: a camera whose up axis points below the
horizon (MetaWorld's ``corner*`` cameras) is rendered upside down by MuJoCo and is turned by 180 degrees here.
"""

from __future__ import annotations

import ctypes.util
import importlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cosmos_predict2.data.actions import rotm2euler

__all__ = ["SimUnavailable", "require_simulator", "list_tasks", "make_env", "reset_env", "end_effector_state",
           "SimCamera", "GRIPPER_OPEN_DISTANCE"]

GRIPPER_OPEN_DISTANCE = 0.1  # finger distance (m) MetaWorld treats as fully open
INSTALL_SIM = 'pip install -e ".[sim]"'
INSTALL_RENDERER = "apt-get install libosmesa6"


class SimUnavailable(RuntimeError):
    """The simulator or its offscreen renderer is missing; the message says what to install."""


def _configure_gl() -> str:
    """Pick the offscreen OpenGL backend before mujoco is imported (it reads MUJOCO_GL once)."""
    backend = os.environ.setdefault("MUJOCO_GL", "osmesa")
    if backend == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    elif backend == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    return backend


def require_simulator() -> None:
    """Raise :class:`SimUnavailable` unless mujoco, metaworld and an offscreen renderer are usable."""
    backend = _configure_gl()
    missing = [m for m in ("mujoco", "metaworld") if importlib.util.find_spec(m) is None]
    if missing:
        raise SimUnavailable(f"the simulator is not installed ({', '.join(missing)} missing): run {INSTALL_SIM}")
    if backend == "osmesa" and ctypes.util.find_library("OSMesa") is None:
        raise SimUnavailable(f"MuJoCo renders offscreen with OSMesa (MUJOCO_GL=osmesa) and libOSMesa is missing: run "
                             f"{INSTALL_RENDERER} (or set MUJOCO_GL=egl on a machine with a GPU)")
    try:
        import mujoco

        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1'/></worldbody></mujoco>")
        with mujoco.Renderer(model, 8, 8) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
    except Exception as e:  # the renderer's own errors are long; one line with the fix
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SimUnavailable(f"MuJoCo cannot render offscreen with MUJOCO_GL={backend} ({first}): run "
                             f"{INSTALL_RENDERER}, or set MUJOCO_GL to a backend this machine has (egl, glfw)") from e


def list_tasks() -> list[str]:
    """MetaWorld's task names (``push-v3``, ``pick-place-v3``, ...)."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return sorted(ALL_V3_ENVIRONMENTS)


def scripted_policy(task: str) -> Any:
    """MetaWorld's scripted expert for ``task`` (``push-v3`` -> ``SawyerPushV3Policy``)."""
    from metaworld.policies import ENV_POLICY_MAP

    if task not in ENV_POLICY_MAP:
        raise ValueError(f"task {task!r} has no scripted expert in metaworld.policies")
    return ENV_POLICY_MAP[task]()


def make_env(task: str) -> Any:
    """A fully observable MetaWorld environment for ``task`` whose object and goal positions are drawn from its own
    seeded generator at every reset (:func:`reset_env`)."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    env = ALL_V3_ENVIRONMENTS[task]()
    # What metaworld's own task sampling does: positions drawn from env.np_random, goal in the observation.
    env._freeze_rand_vec = False
    env.seeded_rand_vec = True
    env._partially_observable = False
    env._set_task_called = True
    env.__dict__.pop("sawyer_observation_space", None)  # cached for the partially observable default
    return env


def reset_env(env: Any, seed: int) -> np.ndarray:
    """Reset ``env`` with fresh object/goal positions drawn from ``seed``; returns the first observation."""
    env.seed(int(seed))
    obs, _ = env.reset()
    return obs


def end_effector_state(env: Any) -> tuple[np.ndarray, float]:
    """([x, y, z, roll, pitch, yaw] of the tool centre, gripper closedness 0..1) of ``env`` now."""
    import mujoco

    xyz = np.asarray(env.tcp_center, dtype=np.float64)
    rot = np.empty(9)
    mujoco.mju_quat2Mat(rot, np.asarray(env.data.body("hand").xquat, dtype=np.float64))
    rpy = rotm2euler(rot.reshape(3, 3))
    fingers = np.linalg.norm(env.data.body("rightclaw").xpos - env.data.body("leftclaw").xpos)
    closed = 1.0 - float(np.clip(fingers / GRIPPER_OPEN_DISTANCE, 0.0, 1.0))
    return np.concatenate([xyz, rpy]), closed


@dataclass
class SimCamera:
    """Offscreen images of one named camera at (height, width), upright (module doc)."""

    env: Any
    name: str
    height: int
    width: int
    shadow_size: int = 1024
    supersample: int = 2  # render at this multiple of (height, width) and average down (anti-aliasing)

    def __post_init__(self):
        import mujoco

        model = self.env.model
        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, self.name) < 0:
            names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
            raise ValueError(f"camera {self.name!r} is not in this scene; cameras: {', '.join(names)}")
        model.vis.quality.shadowsize = int(self.shadow_size)
        s = int(self.supersample)
        if s < 1:
            raise ValueError(f"supersample must be >= 1, got {s}")
        if s > 1:
            model.vis.quality.offsamples = 0  # supersampling replaces multisampling (cheaper with OSMesa)
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), self.width * s)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), self.height * s)
        self._renderer = mujoco.Renderer(model, self.height * s, self.width * s)

    def close(self) -> None:
        self._renderer.close()

    @property
    def upside_down(self) -> bool:
        """True when the camera's up axis points below the horizon (its images are turned by 180 degrees)."""
        cam = self.env.data.camera(self.name)
        return bool(cam.xmat.reshape(3, 3)[2, 1] < 0)

    def _upright(self, img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(img[::-1, ::-1]) if self.upside_down else img

    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 image of the scene now."""
        self._renderer.disable_segmentation_rendering()
        self._renderer.update_scene(self.env.data, camera=self.name)
        img = self._renderer.render().astype(np.float32)  # (sH, sW, 3)
        s = int(self.supersample)
        if s > 1:
            img = img.reshape(self.height, s, self.width, s, 3).mean(axis=(1, 3))
        return self._upright(np.round(img).astype(np.uint8))

    def body_mask(self, body: str) -> np.ndarray:
        """(H, W) bool: pixels showing geoms of ``body`` or its descendants (MuJoCo's segmentation render)."""
        import mujoco

        model = self.env.model
        root = model.body(body).id
        geoms = []
        for g in range(model.ngeom):
            b = int(model.geom_bodyid[g])
            while b not in (0, root):
                b = int(model.body_parentid[b])
            if b == root:
                geoms.append(g)
        self._renderer.enable_segmentation_rendering()
        self._renderer.update_scene(self.env.data, camera=self.name)
        seg = self._renderer.render().copy()  # (sH, sW, 2): object id, object type
        self._renderer.disable_segmentation_rendering()
        hit = np.isin(seg[..., 0], geoms) & (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM))
        s = int(self.supersample)
        hit = hit.reshape(self.height, s, self.width, s).any(axis=(1, 3))  # a pixel shows the body if any sample does
        return self._upright(hit)

    def project(self, xyz_N_3: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> (N, 2) pixel coordinates (column, row) in the upright image (pinhole model of
        the camera: vertical field of view ``fovy``, looking along its -z axis)."""
        cam = self.env.data.camera(self.name)
        fovy = float(self.env.model.camera(self.name).fovy[0])
        R = cam.xmat.reshape(3, 3)  # columns: camera x (right), y (up), z (backwards) in world coordinates
        p = (np.asarray(xyz_N_3, dtype=np.float64) - cam.xpos) @ R  # (N, 3) in camera coordinates
        f = 0.5 * self.height / np.tan(np.deg2rad(fovy) / 2)
        col = self.width / 2 + f * p[:, 0] / -p[:, 2]
        row = self.height / 2 - f * p[:, 1] / -p[:, 2]
        if self.upside_down:
            col, row = self.width - col, self.height - row
        return np.stack([col, row], axis=1)
