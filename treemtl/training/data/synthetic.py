"""Procedural indoor scenes: the built-in benchmark that runs on a laptop in minutes.

Why a renderer rather than random blobs: the recommender only makes sense when tasks relate to
different degrees. Each image is ray cast from a random camera inside a random room (floor,
walls, ceiling, pictures on the walls) holding boxes, spheres and cylinders, so the targets
carry real geometry. The five tasks of the paper:

* ``depth_zbuffer`` — camera z of the first hit (metres);
* ``normal`` — the analytic normal of the hit surface in the camera frame (x right, y down,
  z forward, pointing towards the camera), so normals and depth share geometry;
* ``segment_semantic`` — class of the hit surface (:data:`CLASS_NAMES`); pictures are flat, so
  some class boundaries have no geometric edge;
* ``edge_texture`` — soft edges at occlusions, creases (surface or normal changes) and texture
  boundaries (stripes, checks), so edges share boundaries with segmentation but also follow
  paint that no other target sees;
* ``keypoints2d`` — Gaussian heatmap of visible object corners, cap and sphere centres and room
  corners: a sparse target unlike the others.

and six more that the renderer knows from the scene (none draws random numbers, so adding them
changed no array of the tasks above):

* ``edge_occlusion`` — soft occlusion contours only: pixels whose surface hides the surface a
  neighbouring pixel shows (that surface continues behind them); unlike ``edge_texture`` no
  creases, flat pictures or paint;
* ``reshading`` — the shading that multiplies the albedo in the image: ambient plus Lambertian
  point lights with distance falloff and cast shadows (the normals' geometry plus the lights);
* ``reflectance`` — Rec. 709 luminance of the albedo including its paint pattern, in [0, 1]:
  the image without its lighting;
* ``mean_curvature`` — (k1 + k2) / 2 of the hit surface in 1/m: 1/r on spheres, 1/(2r) on
  cylinder sides, 0 on planes, box faces and caps;
* ``object_count`` (per image) — the number of objects covering at least
  :func:`min_visible_pixels` pixels;
* ``sphere_visible`` (per image, classes 0/1) — whether the sphere class covers at least that many.

The RGB image is Lambertian shading of procedurally textured albedo under one or two point
lights with cast shadows, plus ambient light and a little noise. Rendering is vectorized over
the pixels of an image; image ``i`` of a split depends only on ``(seed, split, i)``, so a
dataset is identical whatever the number of workers.

On disk: ``manifest.json`` plus ``<split>_<k>.npz`` shards (see :func:`write_dataset`), read back
by :class:`SyntheticDataset`, which keeps the (small) arrays in memory.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from treemtl.errors import TreeMTLError
from treemtl.training import registry

FORMAT = "treemtl-synthetic"
VERSION = 1
CLASS_NAMES: tuple[str, ...] = ("floor", "wall", "ceiling", "picture", "box", "sphere", "cylinder")
NUM_CLASSES = len(CLASS_NAMES)
TASKS: tuple[str, ...] = registry.dataset("synthetic").tasks
#: Storage dtype of each task's array, in the order the shards hold them.
_STORAGE: dict[str, type[np.generic]] = {
    "segment_semantic": np.uint8,
    "depth_zbuffer": np.float32,
    "normal": np.float16,
    "keypoints2d": np.float16,
    "edge_texture": np.float16,
    "edge_occlusion": np.float16,
    "reshading": np.float16,
    "reflectance": np.float16,
    "mean_curvature": np.float16,
    "object_count": np.uint8,
    "sphere_visible": np.uint8,
}
#: Tasks with one value per image (pooled heads); the rest are HxW[xC] maps.
IMAGE_LEVEL: frozenset[str] = frozenset(t for t in TASKS if registry.task_type(registry.task(t).type).head == "pooled")
#: Share of the image an object (or the sphere class) must cover to count as visible.
VISIBLE_SHARE = 0.001
#: Manifest conventions of the tasks beyond the paper's five.
_CONVENTIONS: dict[str, str] = {
    "edge_occlusion": "occlusion contours 1 (occluding side), softened; in [0, 1]",
    "reshading": "ambient + Lambertian point lights with falloff and cast shadows (image = albedo x shading)",
    "reflectance": "Rec. 709 luminance of the albedo with its pattern; in [0, 1]",
    "mean_curvature": "(k1 + k2) / 2 of the hit surface in 1/m; 0 on planes",
    "object_count": f"objects covering at least {VISIBLE_SHARE:g} of the image (one value per image)",
    "sphere_visible": f"1 if the sphere class covers at least {VISIBLE_SHARE:g} of the image, else 0 (one value per image)",
}
SPLITS: tuple[str, ...] = ("train", "val")
SHARD_SIZE = 500
_SPLIT_CODE = {"train": 0, "val": 1}
_FLOOR, _WALL, _CEILING, _PICTURE, _BOX, _SPHERE, _CYLINDER = range(NUM_CLASSES)
_EPS = 1e-4


# ----------------------------------------------------------------------------------------------
# scene description


@dataclass
class Surface:
    """Material of one primitive: class, albedo, and a procedural pattern in surface coordinates."""

    cls: int
    albedo: np.ndarray  # (3,) RGB in [0, 1]
    pattern: str  # "plain" | "stripes" | "checks"
    period: float  # metres (or radians for angular patterns)
    contrast: float  # albedo darkening of the pattern's "on" cells
    noise_phase: np.ndarray  # (3,) phases of the smooth low-frequency albedo variation


@dataclass
class Box:
    centre: np.ndarray  # (3,) world; bottom may rest on the floor or another box
    half: np.ndarray  # (3,) half sizes along the box's local axes
    yaw: float
    surface: Surface


@dataclass
class Sphere:
    centre: np.ndarray
    radius: float
    surface: Surface


@dataclass
class Cylinder:
    base: np.ndarray  # (3,) centre of the bottom disc (on the floor)
    radius: float
    height: float
    surface: Surface


@dataclass
class Picture:
    wall: int  # index into the room's planes
    lo: np.ndarray  # (2,) lower corner in the wall's (u, v) coordinates
    hi: np.ndarray
    surface: Surface


@dataclass
class Scene:
    """A room (axis-aligned, floor at y=0), its objects, lights and camera."""

    room: np.ndarray  # (x_min, x_max, z_min, z_max, height)
    planes: list[tuple[int, float, np.ndarray, Surface]]  # axis, coordinate, inward normal, surface
    pictures: list[Picture]
    objects: list[Box | Sphere | Cylinder]
    lights: list[tuple[np.ndarray, float]]  # position, intensity
    ambient: float
    eye: np.ndarray
    rotation: np.ndarray  # world-from-camera, columns = camera x (right), y (down), z (forward)
    focal: float  # pixels
    noise: float


def _surface(rng: np.random.Generator, cls: int) -> Surface:
    """Random material; palettes loosely follow the class so colour is a cue but not a give-away."""
    if cls == _FLOOR:
        albedo = rng.choice([[0.55, 0.38, 0.22], [0.45, 0.45, 0.47], [0.62, 0.52, 0.40], [0.30, 0.22, 0.16]])
        pattern = rng.choice(["stripes", "checks", "plain"], p=[0.45, 0.4, 0.15])
        period = rng.uniform(0.25, 0.6)
    elif cls == _WALL:
        albedo = rng.uniform(0.55, 0.9, 3)
        pattern = rng.choice(["stripes", "plain"], p=[0.5, 0.5])
        period = rng.uniform(0.15, 0.5)
    elif cls == _CEILING:
        albedo = np.full(3, rng.uniform(0.8, 0.95))
        pattern, period = "plain", 1.0
    elif cls == _PICTURE:
        albedo = rng.uniform(0.1, 0.9, 3)
        pattern = rng.choice(["stripes", "checks", "plain"])
        period = rng.uniform(0.08, 0.25)
    else:
        hue = rng.uniform(0, 1)
        albedo = _hsv_to_rgb(hue, rng.uniform(0.35, 0.85), rng.uniform(0.45, 0.95))
        pattern = rng.choice(["stripes", "checks", "plain"], p=[0.35, 0.25, 0.4])
        period = rng.uniform(0.1, 0.3) if cls != _SPHERE else rng.uniform(0.25, 0.6)
    return Surface(
        cls=cls,
        albedo=np.asarray(albedo, dtype=np.float64),
        pattern=str(pattern),
        period=float(period),
        contrast=float(rng.uniform(0.2, 0.45)),
        noise_phase=rng.uniform(0, 2 * math.pi, 3),
    )


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def sample_scene(rng: np.random.Generator, size: int) -> Scene:
    """Draw a random room, objects, lights and camera."""
    width = rng.uniform(4.0, 7.0)
    depth = rng.uniform(4.5, 8.0)
    height = rng.uniform(2.5, 3.2)
    x0, x1, z0, z1 = -width / 2, width / 2, -0.6, depth
    wall = _surface(rng, _WALL)
    accent = _surface(rng, _WALL) if rng.random() < 0.4 else wall
    planes = [
        (1, 0.0, np.array([0.0, 1.0, 0.0]), _surface(rng, _FLOOR)),
        (1, height, np.array([0.0, -1.0, 0.0]), _surface(rng, _CEILING)),
        (0, x0, np.array([1.0, 0.0, 0.0]), wall),
        (0, x1, np.array([-1.0, 0.0, 0.0]), wall),
        (2, z1, np.array([0.0, 0.0, -1.0]), accent),
        (2, z0, np.array([0.0, 0.0, 1.0]), wall),
    ]
    pictures: list[Picture] = []
    for _ in range(rng.integers(0, 3)):
        wall_index = int(rng.choice([2, 3, 4]))
        span = (z0 + 1.0, z1 - 0.5) if wall_index in (2, 3) else (x0 + 0.4, x1 - 0.4)
        w, h = rng.uniform(0.5, 1.4), rng.uniform(0.4, 1.0)
        u = rng.uniform(span[0], max(span[0], span[1] - w))
        v = rng.uniform(0.9, max(0.95, height - h - 0.25))
        pictures.append(Picture(wall_index, np.array([u, v]), np.array([u + w, v + h]), _surface(rng, _PICTURE)))

    eye = np.array([rng.uniform(-0.35, 0.35) * width, rng.uniform(1.1, 1.8), rng.uniform(-0.2, 0.4)])
    objects: list[Box | Sphere | Cylinder] = []
    footprints: list[tuple[float, float, float]] = []
    n_objects = int(rng.integers(2, 7))
    for _ in range(n_objects * 4):
        if len(objects) >= n_objects:
            break
        kind = int(rng.choice([_BOX, _SPHERE, _CYLINDER], p=[0.45, 0.25, 0.3]))
        cx = rng.uniform(x0 + 0.5, x1 - 0.5)
        cz = rng.uniform(eye[2] + 1.3, z1 - 0.5)
        if kind == _BOX:
            half = np.array([rng.uniform(0.2, 0.6), rng.uniform(0.15, 0.6), rng.uniform(0.2, 0.6)])
            radius = float(np.hypot(half[0], half[2]))
        elif kind == _SPHERE:
            r = rng.uniform(0.18, 0.5)
            radius = r
        else:
            r, tall = rng.uniform(0.12, 0.4), rng.uniform(0.3, 1.4)
            radius = r
        if any(np.hypot(cx - fx, cz - fz) < radius + fr + 0.05 for fx, fz, fr in footprints):
            continue
        if kind == _BOX:
            box = Box(np.array([cx, half[1], cz]), half, float(rng.uniform(0, math.pi / 2)), _surface(rng, _BOX))
            objects.append(box)
            if rng.random() < 0.3 and len(objects) < n_objects:  # something resting on top of the box
                r_top = float(min(rng.uniform(0.12, 0.3), half[0], half[2]))
                objects.append(Sphere(np.array([cx, 2 * half[1] + r_top, cz]), r_top, _surface(rng, _SPHERE)))
        elif kind == _SPHERE:
            objects.append(Sphere(np.array([cx, r, cz]), r, _surface(rng, _SPHERE)))
        else:
            objects.append(Cylinder(np.array([cx, 0.0, cz]), r, tall, _surface(rng, _CYLINDER)))
        footprints.append((cx, cz, radius))

    lights = [(np.array([rng.uniform(x0 + 0.5, x1 - 0.5), height - 0.15, rng.uniform(0.5, z1 - 0.5)]), rng.uniform(0.9, 1.3))]
    if rng.random() < 0.5:
        lights.append((np.array([rng.uniform(x0 + 0.5, x1 - 0.5), height - 0.15, rng.uniform(0.5, z1 - 0.5)]), rng.uniform(0.3, 0.6)))

    # Camera looking roughly into the room, slightly down, at the centre of mass of the objects.
    yaw = rng.uniform(-0.45, 0.45)
    pitch = rng.uniform(-0.5, -0.12)
    roll = rng.uniform(-0.05, 0.05)
    forward = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c, s = math.cos(roll), math.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    rotation = np.stack([right, down, forward], axis=1)
    fov = rng.uniform(math.radians(60), math.radians(78))
    focal = size / 2 / math.tan(fov / 2)
    return Scene(
        room=np.array([x0, x1, z0, z1, height]),
        planes=planes,
        pictures=pictures,
        objects=objects,
        lights=lights,
        ambient=float(rng.uniform(0.25, 0.4)),
        eye=eye,
        rotation=rotation,
        focal=focal,
        noise=float(rng.uniform(0.005, 0.02)),
    )


# ----------------------------------------------------------------------------------------------
# ray-primitive intersection, vectorized over rays. Vectors are (3, n) arrays (or (3, 1) for one
# shared origin) so every operation runs on contiguous rows; ``t`` is inf where nothing is hit.


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _safe(d: np.ndarray) -> np.ndarray:
    return np.where(np.abs(d) < 1e-12, 1e-12, d)


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _hit_box(o: np.ndarray, d: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Slab test in the box frame; returns t and the local axis (0..2) of the entry face."""
    rot_t = _rot_y(box.yaw).T  # world -> local
    lo = rot_t @ (o - box.centre[:, None])
    ld = rot_t @ d
    t_near = t_far = axis = None
    for k in range(3):
        inv = 1.0 / _safe(ld[k])
        t1 = (-box.half[k] - lo[k]) * inv
        t2 = (box.half[k] - lo[k]) * inv
        near, far = np.minimum(t1, t2), np.maximum(t1, t2)
        if t_near is None or t_far is None or axis is None:
            t_near, t_far, axis = near, far, np.zeros(near.shape, dtype=np.int64)
        else:
            axis = np.where(near > t_near, k, axis)
            t_near, t_far = np.maximum(t_near, near), np.minimum(t_far, far)
    assert t_near is not None and t_far is not None and axis is not None
    ok = (t_far >= t_near) & (t_near > _EPS)
    return np.where(ok, t_near, np.inf), axis


def _box_normal(d: np.ndarray, axis: np.ndarray, box: Box) -> np.ndarray:
    """World normal of the entry face: minus the ray direction's sign along that local axis."""
    rot = _rot_y(box.yaw)
    ld = rot.T @ d
    cols = np.arange(d.shape[1])
    local = np.zeros_like(d)
    local[axis, cols] = -np.sign(ld[axis, cols])
    return rot @ local


def _hit_sphere(o: np.ndarray, d: np.ndarray, sphere: Sphere) -> np.ndarray:
    oc = o - sphere.centre[:, None]
    a = _dot(d, d)
    b = _dot(d, oc)
    c = _dot(oc, oc) - sphere.radius**2
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    return np.where((disc > 0) & (t > _EPS), t, np.inf)


def _hit_cylinder(o: np.ndarray, d: np.ndarray, cyl: Cylinder) -> tuple[np.ndarray, np.ndarray]:
    """Vertical cylinder with a top cap; returns t and whether the cap was hit."""
    ox, oz = o[0] - cyl.base[0], o[2] - cyl.base[2]
    dx, dz = d[0], d[2]
    a = np.maximum(dx * dx + dz * dz, 1e-12)
    b = dx * ox + dz * oz
    c = ox * ox + oz * oz - cyl.radius**2
    disc = b * b - a * c
    t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    y = o[1] + t_side * d[1]
    top = cyl.base[1] + cyl.height
    t_side = np.where((disc > 0) & (t_side > _EPS) & (y >= cyl.base[1]) & (y <= top), t_side, np.inf)
    t_cap = (top - o[1]) / _safe(d[1])
    cx, cz = ox + t_cap * dx, oz + t_cap * dz
    t_cap = np.where((t_cap > _EPS) & (cx * cx + cz * cz <= cyl.radius**2), t_cap, np.inf)
    return np.minimum(t_side, t_cap), t_cap < t_side


def _hit_object(o: np.ndarray, d: np.ndarray, obj: Box | Sphere | Cylinder) -> np.ndarray:
    if isinstance(obj, Box):
        return _hit_box(o, d, obj)[0]
    if isinstance(obj, Sphere):
        return _hit_sphere(o, d, obj)
    return _hit_cylinder(o, d, obj)[0]


# ----------------------------------------------------------------------------------------------
# textures


def _pattern(surface: Surface, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Binary pattern (0/1) of a surface at coordinates (u, v): the source of texture edges."""
    if surface.pattern == "stripes":
        return (np.floor(u / surface.period) % 2).astype(np.int8)
    if surface.pattern == "checks":
        return ((np.floor(u / surface.period) + np.floor(v / surface.period)) % 2).astype(np.int8)
    return np.zeros(u.shape, dtype=np.int8)


def _smooth_noise(surface: Surface, p: np.ndarray) -> np.ndarray:
    """Low-frequency albedo variation (no edges): a mean of three sinusoids of the 3-D position."""
    ph = surface.noise_phase
    return (
        np.sin(2.1 * p[0] + 1.3 * p[2] + ph[0]) + np.sin(1.7 * p[1] - 2.3 * p[0] + ph[1]) + np.sin(2.9 * p[2] + 0.7 * p[1] + ph[2])
    ) / 3.0


# ----------------------------------------------------------------------------------------------
# rendering


@dataclass
class Rendered:
    """One rendered image with every target (numpy maps HxW[xC]; ints for per-image targets)."""

    image: np.ndarray  # float32 HxWx3 in [0, 1]
    segment_semantic: np.ndarray  # uint8 HxW class ids
    depth_zbuffer: np.ndarray  # float32 HxW metres
    normal: np.ndarray  # float32 HxWx3 unit, camera frame
    keypoints2d: np.ndarray  # float32 HxW in [0, 1]
    edge_texture: np.ndarray  # float32 HxW in [0, 1]
    edge_occlusion: np.ndarray  # float32 HxW in [0, 1]
    reshading: np.ndarray  # float32 HxW >= ambient
    reflectance: np.ndarray  # float32 HxW in [0, 1]
    mean_curvature: np.ndarray  # float32 HxW 1/m, >= 0
    object_count: int  # visible objects
    sphere_visible: int  # 1 if the sphere class is visible, else 0
    instance: np.ndarray  # int16 HxW surface id (planes, pictures, objects); used for edges and tests


def min_visible_pixels(size: int) -> int:
    """Pixels an object must cover in a ``size``x``size`` image to count as visible (at least one)."""
    return max(1, round(VISIBLE_SHARE * size * size))


def _plane_uv(axis: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In-plane coordinates of points on an axis-aligned room plane."""
    if axis == 1:
        return q[0], q[2]
    if axis == 0:
        return q[2], q[1]
    return q[0], q[1]


def render(scene: Scene, size: int, rng: np.random.Generator) -> Rendered:
    """Ray cast ``scene`` at ``size``x``size`` pixels and derive all targets."""
    n = size * size
    centres = (np.arange(size) + 0.5 - size / 2) / scene.focal
    cam = np.stack([np.tile(centres, size), np.repeat(centres, size), np.ones(n)])
    d = scene.rotation @ cam  # camera z component 1, so the hit t is the z-buffer depth
    o = scene.eye[:, None]

    # Room: the camera is inside a closed box, so every ray leaves through one of its planes.
    t_best = np.full(n, np.inf)
    surf_id = np.zeros(n, dtype=np.int16)
    for k, (axis, coord, _, _) in enumerate(scene.planes):
        t = (coord - scene.eye[axis]) / _safe(d[axis])
        better = (t > _EPS) & (t < t_best)
        t_best = np.where(better, t, t_best)
        surf_id[better] = k
    n_planes = len(scene.planes)
    obj_base = n_planes + len(scene.pictures)
    box_axis = np.zeros(n, dtype=np.int64)
    cyl_cap = np.zeros(n, dtype=bool)
    for k, obj in enumerate(scene.objects):
        if isinstance(obj, Box):
            t, axis_hit = _hit_box(o, d, obj)
        elif isinstance(obj, Sphere):
            t = _hit_sphere(o, d, obj)
        else:
            t, cap = _hit_cylinder(o, d, obj)
        better = t < t_best
        t_best = np.where(better, t, t_best)
        surf_id[better] = obj_base + k
        if isinstance(obj, Box):
            box_axis = np.where(better, axis_hit, box_axis)
        elif isinstance(obj, Cylinder):
            cyl_cap = np.where(better, cap, cyl_cap)
    p = o + t_best * d

    # Pictures are flat patches on walls: a change of class and texture, not of geometry.
    normal = np.zeros((3, n))
    for k, (axis, _, inward, _) in enumerate(scene.planes):
        idx = np.flatnonzero(surf_id == k)
        if idx.size == 0:
            continue
        normal[:, idx] = inward[:, None]
        u, v = _plane_uv(axis, p[:, idx])
        for j, pic in enumerate(scene.pictures):
            if pic.wall == k:
                inside = (u >= pic.lo[0]) & (u <= pic.hi[0]) & (v >= pic.lo[1]) & (v <= pic.hi[1])
                surf_id[idx[inside]] = n_planes + j
    curvature = np.zeros(n)
    for k, obj in enumerate(scene.objects):
        idx = np.flatnonzero(surf_id == obj_base + k)
        if idx.size == 0:
            continue
        if isinstance(obj, Box):
            normal[:, idx] = _box_normal(d[:, idx], box_axis[idx], obj)
        elif isinstance(obj, Sphere):
            normal[:, idx] = (p[:, idx] - obj.centre[:, None]) / obj.radius
            curvature[idx] = 1.0 / obj.radius
        else:
            curvature[idx] = np.where(cyl_cap[idx], 0.0, 0.5 / obj.radius)
            q = p[:, idx] - obj.base[:, None]
            side = np.stack([q[0], np.zeros(idx.size), q[2]]) / obj.radius
            normal[:, idx] = np.where(cyl_cap[idx][None, :], np.array([[0.0], [1.0], [0.0]]), side)

    # Materials: albedo x (1 - contrast x pattern) x smooth variation.
    albedo = np.zeros((3, n))
    pattern = np.zeros(n, dtype=np.int8)
    cls = np.zeros(n, dtype=np.uint8)
    surfaces = [s for *_, s in scene.planes] + [pic.surface for pic in scene.pictures] + [obj.surface for obj in scene.objects]
    for sid, surface in enumerate(surfaces):
        idx = np.flatnonzero(surf_id == sid)
        if idx.size == 0:
            continue
        q = p[:, idx]
        u, v = _surface_coords(scene, sid, q, box_axis[idx], cyl_cap[idx])
        pat = _pattern(surface, u, v)
        # Like mip-mapping: a pattern finer than ~2.5 pixels shows as its average, not as aliasing
        # noise, and draws no texture edges (pattern code -1).
        d_sel = d[:, idx]
        grazing = np.abs(_dot(normal[:, idx], d_sel)) / np.sqrt(_dot(d_sel, d_sel))
        footprint = t_best[idx] / scene.focal / np.maximum(grazing, 0.15)
        resolved = footprint < surface.period / 2.5
        pattern[idx] = np.where(resolved, pat, -1)
        mean_pat = np.where(resolved, pat, 0.5)
        shade = (1.0 - surface.contrast * mean_pat) * (1.0 + 0.08 * _smooth_noise(surface, q))
        albedo[:, idx] = surface.albedo[:, None] * shade
        cls[idx] = surface.cls

    # Lighting: ambient + Lambertian point lights with a soft distance falloff and cast shadows.
    light = np.full(n, scene.ambient)
    for position, intensity in scene.lights:
        to_light = position[:, None] - p
        dist = np.sqrt(_dot(to_light, to_light))
        lambert = np.maximum(_dot(normal, to_light) / dist, 0.0)
        lit = np.flatnonzero(lambert > 0)
        if lit.size:
            origin = p[:, lit] + normal[:, lit] * 1e-3
            towards = to_light[:, lit]
            blocked = np.zeros(lit.size, dtype=bool)
            for obj in scene.objects:
                blocked |= _hit_object(origin, towards, obj) < 1.0
            lambert[lit[blocked]] = 0.0
        light += intensity * lambert * (4.0 / (3.0 + dist**2 / 4.0))
    color = albedo * light
    color = color + rng.normal(0.0, scene.noise, color.shape)
    color = np.clip(color, 0.0, 1.0) ** (1 / 1.25)  # mild display gamma

    depth = t_best.reshape(size, size)
    normal_img = (scene.rotation.T @ normal).T.reshape(size, size, 3)  # world -> camera frame
    inst = surf_id.reshape(size, size)
    edges = _edges(depth, normal_img, inst, pattern.reshape(size, size))
    keypoints = _keypoints(scene, size, depth, inst, obj_base)
    luminance = np.array([0.2126, 0.7152, 0.0722]) @ albedo
    covered = np.bincount(surf_id.astype(np.int64), minlength=obj_base + len(scene.objects))[obj_base:]
    enough = min_visible_pixels(size)
    return Rendered(
        image=color.T.reshape(size, size, 3).astype(np.float32),
        segment_semantic=cls.reshape(size, size),
        depth_zbuffer=depth.astype(np.float32),
        normal=normal_img.astype(np.float32),
        keypoints2d=keypoints.astype(np.float32),
        edge_texture=edges.astype(np.float32),
        edge_occlusion=_occlusion_edges(scene, o, d, depth, inst).astype(np.float32),
        reshading=light.reshape(size, size).astype(np.float32),
        reflectance=np.clip(luminance, 0.0, 1.0).reshape(size, size).astype(np.float32),
        mean_curvature=curvature.reshape(size, size).astype(np.float32),
        object_count=int((covered >= enough).sum()),
        sphere_visible=int((cls == _SPHERE).sum() >= enough),
        instance=inst,
    )


def _surface_coords(scene: Scene, sid: int, q: np.ndarray, box_axis: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D texture coordinates of hit points ``q`` (3, m) on surface ``sid`` (metres, arc lengths)."""
    n_planes = len(scene.planes)
    n_pictures = len(scene.pictures)
    if sid < n_planes + n_pictures:
        wall = sid if sid < n_planes else scene.pictures[sid - n_planes].wall
        return _plane_uv(scene.planes[wall][0], q)
    obj = scene.objects[sid - n_planes - n_pictures]
    if isinstance(obj, Box):
        local = _rot_y(obj.yaw).T @ (q - obj.centre[:, None]) + obj.half[:, None]  # in [0, 2*half]
        u = np.where(box_axis == 0, local[2], local[0])  # the two in-face axes of the entry face
        v = np.where(box_axis == 1, local[2], local[1])
        return u, v
    if isinstance(obj, Sphere):
        rel = (q - obj.centre[:, None]) / obj.radius
        polar = np.arccos(np.clip(rel[1], -1.0, 1.0))
        azimuth = np.arctan2(rel[2], rel[0])
        return polar * obj.radius * 2.0, (azimuth + math.pi) * obj.radius
    rel = q - obj.base[:, None]
    azimuth = np.arctan2(rel[2], rel[0]) + math.pi
    u = np.where(cap, rel[0] + obj.radius, azimuth * obj.radius)
    v = np.where(cap, rel[2] + obj.radius, rel[1])
    return u, v



def _edges(depth: np.ndarray, normal: np.ndarray, inst: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Soft edge map from neighbouring-pixel differences.

    Occlusions and surface changes (including flat pictures and floor/wall creases) give 1;
    normal creases within one surface (box faces, cylinder rims) 1; texture boundaries 0.6.
    Of a differing pixel pair the nearer pixel is marked (the occluding side, as in occlusion
    edge maps), which keeps lines one pixel wide; a light blur then makes the map soft.
    """
    strength = np.zeros(depth.shape)
    for a, b in _NEIGHBOURS:
        surface_change = inst[a] != inst[b]
        rel_depth = np.abs(depth[a] - depth[b]) / np.minimum(depth[a], depth[b])
        crease = np.einsum("ijk,ijk->ij", normal[a], normal[b]) < math.cos(math.radians(25))
        texture = (pattern[a] != pattern[b]) & (pattern[a] >= 0) & (pattern[b] >= 0)
        value = np.where(surface_change | crease | (rel_depth > 0.08), 1.0, np.where(texture, 0.6, 0.0))
        a_nearer = depth[a] <= depth[b]
        strength[a] = np.maximum(strength[a], np.where(a_nearer, value, 0.0))
        strength[b] = np.maximum(strength[b], np.where(a_nearer, 0.0, value))
    return _soften(strength)


def _occlusion_edges(scene: Scene, o: np.ndarray, d: np.ndarray, depth: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """Soft occlusion contours: pixels whose surface hides the surface of a neighbouring pixel.

    Pixel ``a`` occludes when a neighbour shows another surface that ray ``a`` meets behind
    ``a``'s own hit, i.e. that surface continues hidden behind ``a``. Where two surfaces meet
    (floor and wall, an object on the floor, a picture on its wall) the ray leaves the room or
    passes beside the other surface instead, so creases are never occlusions, whatever their
    depth step at grazing angles.
    """
    flat_inst, flat_depth = inst.ravel(), depth.ravel()
    index = np.arange(depth.size).reshape(depth.shape)
    pixels, neighbours = [], []  # pairs of neighbouring pixels on different surfaces, both ways
    for a, b in _NEIGHBOURS:
        differ = inst[a] != inst[b]
        pixels += [index[a][differ], index[b][differ]]
        neighbours += [index[b][differ], index[a][differ]]
    pixel = np.concatenate(pixels)
    behind = flat_inst[np.concatenate(neighbours)]
    strength = np.zeros(depth.size)
    for sid in np.unique(behind):  # one ray cast per surface that may be hidden
        sel = np.unique(pixel[behind == sid])
        t = _hit_surface(scene, int(sid), o, d[:, sel])
        strength[sel[np.isfinite(t) & (t > flat_depth[sel] * (1.0 + 1e-3))]] = 1.0
    return _soften(strength.reshape(depth.shape))


def _hit_surface(scene: Scene, sid: int, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """First ``t`` at which rays meet surface ``sid`` (a bounded room face, picture or object)."""
    n_planes, n_pictures = len(scene.planes), len(scene.pictures)
    if sid >= n_planes + n_pictures:
        return _hit_object(o, d, scene.objects[sid - n_planes - n_pictures])
    picture = scene.pictures[sid - n_planes] if sid >= n_planes else None
    axis, coord, _, _ = scene.planes[picture.wall if picture is not None else sid]
    t = (coord - o[axis]) / _safe(d[axis])
    q = o + t * d
    tol = 1e-6
    if picture is not None:
        u, v = _plane_uv(axis, q)
        inside = (u >= picture.lo[0] - tol) & (u <= picture.hi[0] + tol) & (v >= picture.lo[1] - tol) & (v <= picture.hi[1] + tol)
    else:
        x0, x1, z0, z1, height = scene.room
        inside = (q[0] >= x0 - tol) & (q[0] <= x1 + tol) & (q[1] >= -tol) & (q[1] <= height + tol) & (q[2] >= z0 - tol) & (q[2] <= z1 + tol)
    return np.where(inside & (t > _EPS), t, np.inf)


#: The two neighbour relations of a pixel grid (right, down) as pairs of slices.
_NEIGHBOURS = (
    ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
)


def _soften(strength: np.ndarray) -> np.ndarray:
    """One-pixel lines widened by a separable [1/4, 1/2, 1/4] blur, never below the lines."""
    blurred = strength.copy()
    blurred[1:-1, :] = 0.25 * strength[:-2, :] + 0.5 * strength[1:-1, :] + 0.25 * strength[2:, :]
    soft = blurred.copy()
    soft[:, 1:-1] = 0.25 * blurred[:, :-2] + 0.5 * blurred[:, 1:-1] + 0.25 * blurred[:, 2:]
    return np.maximum(strength, soft)


def _keypoints(scene: Scene, size: int, depth: np.ndarray, inst: np.ndarray, obj_base: int) -> np.ndarray:
    """Gaussian heatmap of visible 3-D keypoints projected into the image."""
    points: list[np.ndarray] = []
    owner: list[int] = []  # surface id that must be seen at the pixel (-1: depth test only)
    x0, x1, z0, z1, height = scene.room
    for x in (x0, x1):
        for y in (0.0, height):
            for z in (z0, z1):
                points.append(np.array([x, y, z]))
                owner.append(-1)
    for k, obj in enumerate(scene.objects):
        if isinstance(obj, Box):
            rot = _rot_y(obj.yaw)
            for sx in (-1, 1):
                for sy in (-1, 1):
                    for sz in (-1, 1):
                        points.append(obj.centre + rot @ (obj.half * np.array([sx, sy, sz])))
                        owner.append(-1)
        elif isinstance(obj, Sphere):
            points.append(obj.centre)
            owner.append(obj_base + k)
        else:
            points.append(obj.base + np.array([0.0, obj.height, 0.0]))
            owner.append(-1)
    world = np.stack(points)
    cam = (world - scene.eye) @ scene.rotation
    z = cam[:, 2]
    front = z > 0.05
    u = np.where(front, cam[:, 0] / np.where(front, z, 1.0) * scene.focal + size / 2, -1e3)
    v = np.where(front, cam[:, 1] / np.where(front, z, 1.0) * scene.focal + size / 2, -1e3)
    inside = front & (u >= 0) & (u < size) & (v >= 0) & (v < size)
    visible = np.zeros(len(points), dtype=bool)
    for k in np.flatnonzero(inside):
        row, col = int(v[k]), int(u[k])
        if owner[k] >= 0:
            visible[k] = inst[row, col] == owner[k]
        else:
            # A corner is visible when nothing sits clearly in front of it (3x3 neighbourhood).
            window = depth[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
            visible[k] = z[k] <= window.max() * 1.03 + 0.03
    sigma = 1.0 * size / 64
    heat = np.zeros((size, size))
    if visible.any():
        grid = np.arange(size) + 0.5
        gu = np.exp(-((grid[None, :] - u[visible][:, None]) ** 2) / (2 * sigma**2))  # K x W
        gv = np.exp(-((grid[None, :] - v[visible][:, None]) ** 2) / (2 * sigma**2))  # K x H
        heat = (gv[:, :, None] * gu[:, None, :]).max(axis=0)
    return heat


# ----------------------------------------------------------------------------------------------
# generation and storage


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one image: depends only on (seed, split, index)."""
    return np.random.default_rng([int(seed), _SPLIT_CODE[split], int(index)])


def generate_image(seed: int, split: str, index: int, size: int) -> Rendered:
    """Render image ``index`` of ``split``; identical for identical arguments."""
    rng = image_rng(seed, split, index)
    scene = sample_scene(rng, size)
    return render(scene, size, rng)


def _storage_arrays(items: Sequence[Rendered], tasks: Sequence[str]) -> dict[str, np.ndarray]:
    """Stack rendered images into compact on-disk arrays (uint8 image, float16 where lossless enough)."""
    out = {"image": np.stack([np.round(r.image * 255.0) for r in items]).astype(np.uint8)}
    for task, dtype in _STORAGE.items():
        if task in tasks:
            out[task] = np.stack([np.asarray(getattr(r, task)) for r in items]).astype(dtype)
    return out


def generate_block(seed: int, split: str, start: int, stop: int, size: int, tasks: Sequence[str]) -> dict[str, np.ndarray]:
    """Render images ``start..stop-1`` of a split into storage arrays (the unit of parallel work)."""
    return _storage_arrays([generate_image(seed, split, i, size) for i in range(start, stop)], tasks)


def _generate_block_args(args: tuple[int, str, int, int, int, tuple[str, ...]]) -> dict[str, np.ndarray]:
    return generate_block(*args)


@dataclass(frozen=True)
class SynthSpec:
    """What to generate: image counts per split, resolution, seed and stored tasks."""

    n_train: int = 1200
    n_val: int = 300
    size: int = 64
    seed: int = 0
    tasks: tuple[str, ...] = TASKS

    def validate(self) -> None:
        if self.n_train < 1:
            raise TreeMTLError(f"synthetic data: --n must be at least 1, got {self.n_train}")
        if self.n_val < 0:
            raise TreeMTLError(f"synthetic data: --n-val must be at least 0, got {self.n_val}")
        if not 8 <= self.size <= 1024:
            raise TreeMTLError(f"synthetic data: --size must be between 8 and 1024, got {self.size}")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise TreeMTLError(f"synthetic data: bad task list {','.join(self.tasks)!r}; expected distinct names among {', '.join(TASKS)}")


def write_dataset(
    out: str | os.PathLike[str],
    spec: SynthSpec,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
    contact_sheet: bool = True,
) -> dict[str, Any]:
    """Generate the train and val splits into ``out`` and return the manifest.

    Shards are rendered into a temporary folder inside ``out`` and moved into place; the
    manifest is written last (atomically) and removed first, so an interrupted run never
    leaves a folder that looks complete.
    """
    spec.validate()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = root / f".tmp-{os.getpid()}"
    tmp.mkdir()
    started = time.perf_counter()
    try:
        blocks = _plan_blocks(spec)
        workers = _worker_count(workers, len(blocks))
        results = _run_blocks(blocks, workers)
        splits: dict[str, Any] = {}
        stats_source: dict[str, np.ndarray] | None = None
        for split in SPLITS:
            count = spec.n_train if split == "train" else spec.n_val
            split_blocks = [r for (b, r) in zip(blocks, results) if b[1] == split]
            shards = []
            if count:
                arrays = {key: np.concatenate([r[key] for r in split_blocks]) for key in split_blocks[0]}
                if split == "train":
                    stats_source = arrays
                for k, begin in enumerate(range(0, count, SHARD_SIZE)):
                    name = f"{split}_{k:03d}.npz"
                    part = {key: value[begin : begin + SHARD_SIZE] for key, value in arrays.items()}
                    np.savez(tmp / name, **part)
                    shards.append({"file": name, "count": int(len(part["image"]))})
            splits[split] = {"count": count, "shards": shards}
        assert stats_source is not None
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "size": spec.size,
            "seed": spec.seed,
            "tasks": list(spec.tasks),
            "num_classes": NUM_CLASSES,
            "class_names": list(CLASS_NAMES),
            "counts": {split: splits[split]["count"] for split in SPLITS},
            "splits": splits,
            "normalization": _statistics(stats_source),
            "conventions": {
                "image": "uint8 RGB; the Dataset returns (x/255 - image_mean)/image_std",
                "depth_zbuffer": "camera z in metres",
                "normal": "unit vectors in the camera frame: x right, y down, z forward; facing the camera",
                "segment_semantic": "class index into class_names",
                "keypoints2d": "max of Gaussians (sigma = size/64 px) at visible corners and centres, in [0, 1]",
                "edge_texture": "occlusion/surface/crease edges 1, texture edges 0.6, softened; in [0, 1]",
                **_CONVENTIONS,
            },
        }
        manifest_path = root / "manifest.json"
        manifest_path.unlink(missing_ok=True)
        for old in list(root.glob("train_*.npz")) + list(root.glob("val_*.npz")):
            old.unlink()
        for entry in os.listdir(tmp):
            os.replace(tmp / entry, root / entry)
        if contact_sheet:
            from treemtl.training.data.sheet import save_contact_sheet

            save_contact_sheet(root, root / "contact_sheet.png", manifest=manifest)
        from treemtl.atomic import write_json_atomic

        write_json_atomic(manifest_path, manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if progress is not None:
        total = spec.n_train + spec.n_val
        progress(f"wrote {total} images ({spec.n_train} train, {spec.n_val} val) at {spec.size}x{spec.size} to {root} in {time.perf_counter() - started:.1f} s with {workers} worker(s)")
    return manifest


def _plan_blocks(spec: SynthSpec, block: int = 100) -> list[tuple[int, str, int, int, int, tuple[str, ...]]]:
    """Split both splits into blocks of images small enough to balance across workers."""
    plan = []
    for split, count in (("train", spec.n_train), ("val", spec.n_val)):
        for start in range(0, count, block):
            plan.append((spec.seed, split, start, min(start + block, count), spec.size, tuple(spec.tasks)))
    return plan


def _worker_count(workers: int | None, blocks: int) -> int:
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers < 1:
        raise TreeMTLError(f"synthetic data: --workers must be at least 1, got {workers}")
    return max(1, min(workers, blocks))


def _run_blocks(blocks: list[tuple[int, str, int, int, int, tuple[str, ...]]], workers: int) -> list[dict[str, np.ndarray]]:
    if workers == 1:
        return [_generate_block_args(b) for b in blocks]
    # spawn: the parent may hold torch threads, which do not survive fork safely.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return pool.map(_generate_block_args, blocks, chunksize=1)


def _statistics(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-channel image mean/std (in [0, 1] units) and depth mean/std of the train split."""
    image = arrays["image"].astype(np.float64) / 255.0
    stats: dict[str, Any] = {
        "image_mean": [round(float(v), 6) for v in image.mean(axis=(0, 1, 2))],
        "image_std": [round(max(float(v), 1e-3), 6) for v in image.std(axis=(0, 1, 2))],
    }
    if "depth_zbuffer" in arrays:
        stats["depth_mean"] = round(float(arrays["depth_zbuffer"].mean()), 6)
        stats["depth_std"] = round(float(arrays["depth_zbuffer"].std()), 6)
    return stats


# ----------------------------------------------------------------------------------------------
# reading


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and check ``<root>/manifest.json``."""
    from treemtl.training.data.io import read_json

    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise TreeMTLError(
            f"{path}: synthetic dataset not found (no manifest); create it with "
            f"`treemtl data synth --out {Path(root)}`"
        )
    manifest = read_json(path, "synthetic dataset manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise TreeMTLError(f"{path}: not a treemtl synthetic dataset manifest (expected format {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise TreeMTLError(f"{path}: manifest version {manifest.get('version')!r}; this treemtl reads version {VERSION} (regenerate the data)")
    for key in ("size", "tasks", "num_classes", "class_names", "splits", "normalization"):
        if key not in manifest:
            raise TreeMTLError(f"{path}: manifest lacks {key!r}")
    return manifest


def load_split_arrays(root: str | os.PathLike[str], split: str, manifest: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Read every shard of ``split`` and concatenate; checks shard counts and shapes."""
    root = Path(root)
    manifest = manifest if manifest is not None else read_manifest(root)
    if split not in manifest["splits"]:
        raise TreeMTLError(f"{root / 'manifest.json'}: no split {split!r}; expected one of {', '.join(manifest['splits'])}")
    entry = manifest["splits"][split]
    if not entry["shards"]:
        raise TreeMTLError(f"{root / 'manifest.json'}: split {split!r} is empty (generate it with --n-val > 0)")
    size = int(manifest["size"])
    parts: dict[str, list[np.ndarray]] = {}
    for shard in entry["shards"]:
        path = root / shard["file"]
        if not path.is_file():
            raise TreeMTLError(f"{path}: shard listed in the manifest is missing (regenerate the data)")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError) as error:
            raise TreeMTLError(f"{path}: cannot read shard: {error}") from None
        for key in ["image", *manifest["tasks"]]:
            if key not in arrays:
                raise TreeMTLError(f"{path}: shard lacks array {key!r}")
            value = arrays[key]
            if key in IMAGE_LEVEL:
                if value.shape != (shard["count"],):
                    raise TreeMTLError(f"{path}: array {key!r} has shape {value.shape}; expected one value for each of {shard['count']} images")
            elif len(value) != shard["count"] or tuple(value.shape[1:3]) != (size, size):
                raise TreeMTLError(f"{path}: array {key!r} has shape {value.shape}; expected {shard['count']} images of {size}x{size}")
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(values) for key, values in parts.items()}


class SyntheticDataset:
    """Torch dataset over one split of a generated folder, held in memory (it is small).

    Images are stored as uint8 and normalized per item with the manifest's train statistics.
    """

    def __init__(self, root: str | os.PathLike[str], split: str, tasks: Sequence[str] | None = None) -> None:
        import torch

        from treemtl.training.data.common import builtin_targets, check_tasks

        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        available = tuple(self.manifest["tasks"])
        self.tasks = check_tasks(tasks if tasks is not None else available, available, f"{self.root / 'manifest.json'}")
        self.num_classes = int(self.manifest["num_classes"])
        self.class_names = tuple(self.manifest["class_names"])
        self.split = split
        arrays = load_split_arrays(self.root, split, self.manifest)
        norm = self.manifest["normalization"]
        self._mean = torch.tensor(norm["image_mean"], dtype=torch.float32).view(3, 1, 1) * 255.0
        self._std = torch.tensor(norm["image_std"], dtype=torch.float32).view(3, 1, 1) * 255.0
        self._image = torch.from_numpy(arrays["image"]).permute(0, 3, 1, 2).contiguous()
        self._targets: dict[str, torch.Tensor] = {}
        for task, target in builtin_targets(self.tasks).items():
            value = torch.from_numpy(arrays[task])
            if target in ("class_map", "class_label"):
                value = value.long()
            elif target == "normal_map":
                value = value.float().permute(0, 3, 1, 2).contiguous()
            else:  # dense_map [N,1,H,W], scalar [N,1]
                value = value.float().unsqueeze(1)
            self._targets[task] = value

    def __len__(self) -> int:
        return int(self._image.shape[0])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        item = {"image": (self._image[index].float() - self._mean) / self._std}
        for task, value in self._targets.items():
            item[task] = value[index]
        return item


def manifest_summary(manifest: dict[str, Any]) -> str:
    """One line describing a dataset (used by the CLI)."""
    return json.dumps({k: manifest[k] for k in ("size", "seed", "tasks", "counts")})
