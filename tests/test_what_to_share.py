"""What-to-Share: RDMs, RSA affinity and the layout dissimilarity cost on hand-checked inputs."""

from __future__ import annotations

import numpy as np
import pytest

from treemtl.evaluation.baselines.what_to_share import (
    affinity_from_features,
    affinity_tensor,
    best_within_budget,
    dissimilarity_cost,
    rdm,
    rdm_affinity,
    upper_triangle,
)
from treemtl.errors import TreeMTLError
from treemtl.core.layout import Layout


def test_three_image_rdm_by_hand() -> None:
    features = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 4.0]])
    # corr(0,1) = -1; corr(0,2) = (−1·−1.333 + 0 + 1·1.667)/(sqrt(2)·sqrt(4.667)) = 3/sqrt(9.333)
    r02 = 3.0 / np.sqrt(2.0 * 14.0 / 3.0)
    expected = np.array([[0.0, 2.0, 1 - r02], [2.0, 0.0, 1 + r02], [1 - r02, 1 + r02, 0.0]])
    np.testing.assert_allclose(rdm(features), expected, atol=1e-12)
    np.testing.assert_allclose(upper_triangle(expected), [2.0, 1 - r02, 1 + r02])


def test_identical_features_have_affinity_one() -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(8, 20))
    assert rdm_affinity(rdm(feats), rdm(feats)) == pytest.approx(1.0)
    # affinity is invariant to a positive rescaling + offset of the features
    assert rdm_affinity(rdm(feats), rdm(3.0 * feats + 1.0)) == pytest.approx(1.0)
    tensor = affinity_from_features({"a": [feats, feats], "b": [feats, rng.normal(size=(8, 20))]}, ["a", "b"])
    assert tensor.shape == (2, 2, 2)
    assert tensor[0, 0, 1] == pytest.approx(1.0)
    assert tensor[1, 0, 1] < 0.9 and tensor[1, 0, 1] == tensor[1, 1, 0]


def test_permuting_images_permutes_rdm() -> None:
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(6, 10))
    perm = np.array([3, 0, 5, 1, 4, 2])
    np.testing.assert_allclose(rdm(feats[perm]), rdm(feats)[np.ix_(perm, perm)], atol=1e-12)
    # the same permutation applied to both tasks keeps their affinity
    other = feats + rng.normal(scale=0.5, size=feats.shape)
    assert rdm_affinity(rdm(feats[perm]), rdm(other[perm])) == pytest.approx(rdm_affinity(rdm(feats), rdm(other)))


def test_layout_cost_by_hand() -> None:
    # 3 tasks, 3 blocks; dissimilarity differs per block
    diss = np.zeros((3, 3, 3))
    for b, (d01, d02, d12) in enumerate([(0.1, 0.2, 0.3), (0.2, 0.5, 0.4), (0.6, 0.9, 0.7)]):
        diss[b, 0, 1] = diss[b, 1, 0] = d01
        diss[b, 0, 2] = diss[b, 2, 0] = d02
        diss[b, 1, 2] = diss[b, 2, 1] = d12
    layout = Layout.parse("012|01,2|0,1,2")
    # block 0: one group, max = 0.3; block 1: mean(0.2, 0) = 0.1; block 2: all singletons = 0
    assert dissimilarity_cost(layout.blocks, diss) == pytest.approx(0.4)
    assert dissimilarity_cost(Layout.all_shared(3, 3).blocks, diss) == pytest.approx(0.3 + 0.5 + 0.9)
    assert dissimilarity_cost(Layout.independent(3, 3).blocks, diss) == 0.0
    with pytest.raises(TreeMTLError):
        dissimilarity_cost(layout.blocks, diss[:2])


def test_best_within_budget() -> None:
    choice = best_within_budget([3.0, 1.0, 0.5, 1.0], [True, True, False, True], budget=1.5)
    assert choice.layout_id == 1 and choice.cost == 1.0
    assert best_within_budget([1.0], [False], 1.0).layout_id is None


def test_affinity_tensor_is_symmetric_with_unit_diagonal() -> None:
    rng = np.random.default_rng(2)
    rdms = [[rdm(rng.normal(size=(5, 4)))] for _ in range(3)]
    tensor = affinity_tensor(rdms)
    np.testing.assert_allclose(tensor[0], tensor[0].T)
    np.testing.assert_allclose(np.diag(tensor[0]), 1.0)


def test_extract_block_features_from_single_task_model() -> None:
    import torch

    from treemtl.evaluation.baselines.what_to_share import extract_block_features
    from treemtl.training.config import config_from_dict
    from treemtl.nets.model import build_model

    config = config_from_dict({"experiment": "wts", "backbone": {"input_size": [3, 32, 32], "blocks": 3}})
    torch.manual_seed(0)
    model = build_model(config, {"depth_zbuffer": 1}, Layout.all_shared(1, 3))
    images = torch.randn(5, 3, 32, 32)
    features = extract_block_features(model, images, batch_size=2)
    assert len(features) == 3 and all(f.shape[0] == 5 for f in features)
    again = extract_block_features(model, images, batch_size=5)
    for a, b in zip(features, again):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    rdms = [rdm(f) for f in features]
    assert all(r.shape == (5, 5) for r in rdms)
    with pytest.raises(TreeMTLError):
        extract_block_features(build_model(config, {"depth_zbuffer": 1, "normal": 3}, Layout.independent(2, 3)), images)
