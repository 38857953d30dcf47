"""The renderer's tasks beyond the paper's five: value ranges, agreement with the scene's geometry,
determinism, storage, and that adding them left the five tasks' data exactly as it was."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from treemtl.errors import TreeMTLError
from treemtl.training import registry
from treemtl.training.data import synthetic as syn

SIZE = 48
NEW_TASKS = ("edge_occlusion", "reshading", "reflectance", "mean_curvature", "object_count", "sphere_visible")
SPHERE = syn.CLASS_NAMES.index("sphere")


def _render(seed: int, index: int, split: str = "train", size: int = SIZE) -> tuple[syn.Scene, syn.Rendered]:
    rng = syn.image_rng(seed, split, index)
    scene = syn.sample_scene(rng, size)
    return scene, syn.render(scene, size, rng)


def _object_base(scene: syn.Scene) -> int:
    return len(scene.planes) + len(scene.pictures)


#: Seed 0 at 32x32 as rendered before these tasks existed: (split, index, image mean, depth mean,
#: normal z mean, keypoints mean, edge_texture mean, pixels per class).
BEFORE = [
    ("train", 0, 0.549554, 3.557751, -0.368392, 0.014081, 0.450134, [336, 396, 223, 0, 7, 62, 0]),
    ("train", 1, 0.417219, 2.302418, -0.436625, 0.014748, 0.402368, [361, 583, 0, 29, 14, 6, 31]),
    ("val", 2, 0.461896, 3.656564, -0.397565, 0.004622, 0.391809, [392, 513, 93, 0, 0, 0, 26]),
]


@pytest.mark.parametrize("split, index, image, depth, normal_z, keypoints, edges, classes", BEFORE)
def test_the_paper_tasks_render_as_before(split: str, index: int, image: float, depth: float, normal_z: float,
                                          keypoints: float, edges: float, classes: list[int]) -> None:
    r = syn.generate_image(0, split, index, 32)
    means = [r.image, r.depth_zbuffer, r.normal[..., 2], r.keypoints2d, r.edge_texture]
    # six decimals, with room for last-bit differences of vectorized maths between machines
    assert [float(m.mean()) for m in means] == pytest.approx([image, depth, normal_z, keypoints, edges], rel=1e-4, abs=1e-6)
    assert np.bincount(r.segment_semantic.ravel(), minlength=syn.NUM_CLASSES).tolist() == classes


def test_render_draws_only_the_image_noise() -> None:
    """The new targets come from the scene, so the generator advances exactly as it did before."""
    rng = syn.image_rng(3, "train", 4)
    scene = syn.sample_scene(rng, SIZE)
    expected = copy.deepcopy(rng)
    syn.render(scene, SIZE, rng)
    expected.normal(0.0, 1.0, (3, SIZE * SIZE))
    assert rng.bit_generator.state == expected.bit_generator.state


def test_registered_with_types_metrics_and_directions() -> None:
    from treemtl.training.tasks import get_task

    assert registry.dataset("synthetic").tasks[-len(NEW_TASKS):] == NEW_TASKS == syn.TASKS[5:]
    expected = {
        "edge_occlusion": ("heatmap", {"error": False}),
        "reshading": ("regression", {"abs_err": False, "rmse": False}),
        "reflectance": ("regression", {"abs_err": False, "rmse": False}),
        "mean_curvature": ("regression", {"abs_err": False, "rmse": False}),
        "object_count": ("image_regression", {"abs_err": False}),
        "sphere_visible": ("classification", {"accuracy": True}),
    }
    for name, (kind, directions) in expected.items():
        assert registry.task(name).type == kind
        assert get_task(name).directions == directions
    assert get_task("sphere_visible").out_channels(7) == 2 and get_task("object_count").head == "pooled"
    assert syn.IMAGE_LEVEL == {"object_count", "sphere_visible"}


def test_ranges() -> None:
    for index in range(6):
        scene, r = _render(1, index)
        assert 0.0 <= r.edge_occlusion.min() and r.edge_occlusion.max() <= 1.0
        brightest = scene.ambient + sum(intensity for _, intensity in scene.lights) * 4.0 / 3.0
        assert scene.ambient - 1e-6 <= r.reshading.min() and r.reshading.max() <= brightest + 1e-5
        assert 0.0 <= r.reflectance.min() and r.reflectance.max() <= 1.0 and r.reflectance.std() > 0.01
        smallest = min([o.radius for o in scene.objects if not isinstance(o, syn.Box)], default=np.inf)
        assert r.mean_curvature.min() == 0.0 and r.mean_curvature.max() <= 1.0 / smallest + 1e-5
        assert 0 <= r.object_count <= len(scene.objects) and r.sphere_visible in (0, 1)
        for name in NEW_TASKS[:4]:
            assert getattr(r, name).shape == (SIZE, SIZE) and np.isfinite(getattr(r, name)).all()


def test_same_seed_same_targets_and_different_seed_different() -> None:
    a, b = syn.generate_image(5, "train", 3, SIZE), syn.generate_image(5, "train", 3, SIZE)
    others = [syn.generate_image(seed, "train", 3, SIZE) for seed in (6, 7, 8)]
    for name in NEW_TASKS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in NEW_TASKS[:4]:
        assert not np.array_equal(getattr(a, name), getattr(others[0], name)), name
    assert len({(r.object_count, r.sphere_visible) for r in [a, *others]}) > 1


def test_image_level_tasks_agree_with_instances_and_segmentation() -> None:
    enough = syn.min_visible_pixels(SIZE)
    counts, spheres = [], []
    for index in range(16):
        scene, r = _render(3, index)
        ids, pixels = np.unique(r.instance[r.instance >= _object_base(scene)], return_counts=True)
        assert r.object_count == int((pixels >= enough).sum())
        assert r.sphere_visible == int((r.segment_semantic == SPHERE).sum() >= enough)
        counts.append(r.object_count)
        spheres.append(r.sphere_visible)
    assert len(set(counts)) >= 3 and 0 < np.mean(spheres) < 1  # several counts, both labels


def _staged_scene(objects: list[syn.Box | syn.Sphere | syn.Cylinder]) -> syn.Scene:
    """A sampled room seen level from its middle, holding ``objects`` in front of the camera."""
    scene = syn.sample_scene(np.random.default_rng(11), SIZE)
    forward, right, down = np.array([0.0, 0.0, 1.0]), np.array([-1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0])
    scene.eye = np.array([0.0, 1.4, 0.0])
    scene.rotation = np.stack([right, down, forward], axis=1)
    scene.pictures = []
    scene.objects = objects
    return scene


def _material(cls: int) -> syn.Surface:
    return syn._surface(np.random.default_rng(cls), cls)


def test_a_staged_scene_counts_its_objects_and_measures_their_curvature() -> None:
    sphere = syn.Sphere(np.array([-0.6, 1.4, 2.0]), 0.2, _material(SPHERE))
    box = syn.Box(np.array([0.0, 1.4, 2.0]), np.array([0.2, 0.2, 0.2]), 0.3, _material(SPHERE - 1))
    cylinder = syn.Cylinder(np.array([0.6, 1.0, 2.0]), 0.25, 0.3, _material(SPHERE + 1))
    scene = _staged_scene([sphere, box, cylinder])
    r = syn.render(scene, SIZE, np.random.default_rng(0))
    assert (r.object_count, r.sphere_visible) == (3, 1)
    base = _object_base(scene)
    assert np.allclose(r.mean_curvature[r.instance == base], 1 / 0.2)
    assert np.all(r.mean_curvature[r.instance == base + 1] == 0.0)
    on_cylinder = r.instance == base + 2
    world_up = (r.normal @ scene.rotation.T)[..., 1]  # camera -> world normals, y component
    cap = on_cylinder & (world_up > 0.999)
    assert cap.any() and (on_cylinder & ~cap).any()  # seen from above the cap: both parts show
    assert np.all(r.mean_curvature[cap] == 0.0) and np.allclose(r.mean_curvature[on_cylinder & ~cap], 0.5 / 0.25)
    assert np.all(r.mean_curvature[r.instance < base] == 0.0)
    for k in range(3):  # each object stands in front of the wall: its outline is an occlusion contour
        assert (r.edge_occlusion[r.instance == base + k] == 1.0).sum() >= 8

    without_sphere = syn.render(_staged_scene([box, cylinder]), SIZE, np.random.default_rng(0))
    assert (without_sphere.object_count, without_sphere.sphere_visible) == (2, 0)
    hidden = syn.Box(np.array([-0.6, 1.4, 3.0]), np.array([0.05, 0.05, 0.05]), 0.0, _material(SPHERE - 1))
    behind_sphere = syn.render(_staged_scene([sphere, hidden]), SIZE, np.random.default_rng(0))
    assert (behind_sphere.object_count, behind_sphere.sphere_visible) == (1, 1)  # the box is out of sight


def test_occlusion_edges_are_outlines_of_objects_in_front() -> None:
    found, expected = 0, 0
    for index in range(10):
        scene, r = _render(4, index)
        base = _object_base(scene)
        line = r.edge_occlusion == 1.0
        # The room encloses everything, so its faces and pictures hide nothing; creases are no contours.
        assert not line[r.instance < base].any()
        assert (r.edge_texture[line] > 0.1).all()  # every contour is also an edge of edge_texture
        assert r.edge_occlusion.mean() < r.edge_texture.mean()
        for a, b in syn._NEIGHBOURS:
            for near, far in ((a, b), (b, a)):
                in_front = (r.instance[near] >= base) & (r.instance[far] < base)
                in_front &= r.depth_zbuffer[far] > 1.1 * r.depth_zbuffer[near]
                expected += int(in_front.sum())
                found += int(line[near][in_front].sum())
    assert expected > 100 and found / expected > 0.95


def test_reflectance_times_reshading_is_the_image() -> None:
    """Luminance of the linear image = reflectance x shading, up to the image noise."""
    errors = []
    for index in range(6):
        _, r = _render(5, index)
        linear = r.image.astype(np.float64) ** 1.25  # undo the display gamma
        unclipped = (r.image.min(axis=2) > 0.02) & (r.image.max(axis=2) < 0.98) & (r.reflectance < 1.0)
        luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
        errors.append(np.abs(luminance - r.reflectance * r.reshading)[unclipped])
    error = np.concatenate(errors)
    assert error.size > 5000 and error.mean() < 0.015 and np.median(error) < 0.01


def test_stored_and_read_as_the_item_contract(tmp_path: Path) -> None:
    from treemtl.training.data.common import check_item

    tasks = ("segment_semantic", *NEW_TASKS)
    manifest = syn.write_dataset(tmp_path / "d", syn.SynthSpec(n_train=5, n_val=2, size=24, seed=2, tasks=tasks),
                                 workers=1, contact_sheet=False)
    assert manifest["tasks"] == list(tasks) and set(NEW_TASKS) <= set(manifest["conventions"])
    ds = syn.SyntheticDataset(tmp_path / "d", "train")
    item = ds[3]
    shapes = {t: (registry.task_type(registry.task(t).type).target, 2 if t == "sphere_visible" else 1) for t in NEW_TASKS}
    check_item(item, shapes, "synthetic")
    reference = syn.generate_image(2, "train", 3, 24)
    assert item["object_count"].tolist() == [float(reference.object_count)]
    assert int(item["sphere_visible"]) == reference.sphere_visible and item["sphere_visible"].dtype.is_floating_point is False
    for name in NEW_TASKS[:4]:
        assert item[name].shape == (1, 24, 24)
        assert np.allclose(item[name][0].numpy(), getattr(reference, name), rtol=2e-3, atol=1e-3), name


def test_a_bad_image_level_array_names_the_shard(tmp_path: Path) -> None:
    out = tmp_path / "d"
    manifest = syn.write_dataset(out, syn.SynthSpec(n_train=3, n_val=1, size=16, tasks=("object_count",)),
                                 workers=1, contact_sheet=False)
    shard = out / manifest["splits"]["train"]["shards"][0]["file"]
    with np.load(shard) as data:
        arrays = {key: data[key] for key in data.files}
    np.savez(shard, **{**arrays, "object_count": arrays["object_count"][:, None]})
    with pytest.raises(TreeMTLError, match=rf"{shard.name}: array 'object_count' has shape \(3, 1\); expected one value for each of 3 images"):
        syn.SyntheticDataset(out, "train")


def test_only_the_synthetic_dataset_provides_them() -> None:
    from treemtl.training.config import config_from_dict

    config = config_from_dict({"experiment": "s8", "tasks": list(syn.TASKS)})
    assert config.tasks == syn.TASKS
    with pytest.raises(TreeMTLError, match="task 'reshading' is not provided by dataset taskonomy"):
        config_from_dict({"experiment": "t", "tasks": ["normal", "reshading"],
                          "data": {"dataset": "taskonomy", "root": "x"}})
