"""Learning to Branch and AutoMTL on the small CNN: supernets, derived models, stages, workflow."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import yaml

from treemtl.core.cost import BlockProfile
from treemtl.core.layout import Layout, layout_id
from treemtl.nets.automtl_supermodel import SHARED, SKIP, SPECIFIC, AutoMTLModel, AutoMTLSupermodel, compile_backbone
from treemtl.nets.backbones import build_backbone
from treemtl.nets.branching_supernet import BranchingSupernet
from treemtl.nets.detect import split_model
from treemtl.nets.heads import build_head
from treemtl.nets.model import TreeMTLModel
from treemtl.nets.profiling import count_flops, count_params, flops_by_module
from treemtl.results_tree import ResultsTree

SIZE = (3, 32, 32)
CHANNELS = {"segment_semantic": 4, "depth_zbuffer": 1, "normal": 3}


def _heads() -> dict[str, torch.nn.Module]:
    return {task: build_head("light", 128, c) for task, c in CHANNELS.items()}


@pytest.fixture(scope="module")
def blocks() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return split_model(build_backbone("small_cnn"), SIZE, 5).blocks


# ------------------------------------------------------------------------------------ Learn to Branch
# Paths: task 2 leaves tasks 0 and 1 at block 2; 0 and 1 part at the last block (heads last).
PARENTS = [[0, 1, 2], [0, 0, 0], [0, 2, 1], [0, 0, 2], [0, 1, 2]]


def test_forced_parent_matrix_gives_the_expected_layout_and_id(blocks: list[torch.nn.Module]) -> None:
    from treemtl.evaluation.baselines.learn_to_branch import describe_layout

    net = BranchingSupernet(blocks, _heads())
    net.set_parents(PARENTS)
    expected = Layout.parse("012|012|01,2|01,2|0,1,2")
    assert net.derived_layout() == expected
    described = describe_layout(net.derived_layout(), BlockProfile.uniform(5), budget=2.0)
    assert described["id"] == layout_id(expected) and described["copies"] == [1, 1, 2, 2, 3]
    assert described["models"] == pytest.approx(9 / 5) and described["within_budget"] is True


def test_one_hot_supernet_computes_the_tree_model_of_its_layout(blocks: list[torch.nn.Module]) -> None:
    torch.manual_seed(1)
    net = BranchingSupernet(blocks, _heads())
    net.set_parents(PARENTS)
    for node in (n for block in net.nodes for n in block):  # distinct weights per node
        for p in node.parameters():
            p.data.add_(0.05 * torch.randn_like(p))
    tree = TreeMTLModel(blocks, net.derived_layout(), _heads())
    tree.load_state_dict(net.tree_state_dict())
    net.mode = "argmax"
    net.eval(), tree.eval()
    x = torch.randn(2, *SIZE)
    with torch.no_grad():
        ours, theirs = net(x), tree(x)
    assert all(torch.equal(ours[t], theirs[t]) for t in CHANNELS)


def test_sampled_parents_always_give_valid_layouts(blocks: list[torch.nn.Module]) -> None:
    torch.manual_seed(2)
    net = BranchingSupernet(blocks, _heads(), children=[2, 3, 1, 2, 2])
    for _ in range(20):
        with torch.no_grad():
            for logits in net.logits:
                logits.copy_(torch.randn_like(logits) * 3)
        layout = net.derived_layout()
        assert layout.num_tasks == 3 and layout.num_blocks == 5
        assert layout.blocks[2] == ((0, 1, 2),)  # one node at block 2: every task passes it
        assert 0 <= layout_id(layout) < 51


def test_straight_through_forward_trains_the_parent_logits(blocks: list[torch.nn.Module]) -> None:
    torch.manual_seed(5)
    net = BranchingSupernet(blocks, _heads())
    for p in net.nodes.parameters():  # identical copies would give every parent the same output
        p.data.add_(0.1 * torch.randn_like(p))
    net.tau = 5.0
    out = net(torch.randn(2, *SIZE))
    sum(o.pow(2).mean() for o in out.values()).backward()
    # every matrix gets a gradient through the children that were used
    assert all(logits.grad is not None and logits.grad.abs().sum() > 1e-6 for logits in net.logits)


def test_expected_models_spans_all_shared_to_independent(blocks: list[torch.nn.Module]) -> None:
    net = BranchingSupernet(blocks, _heads())
    fractions = [0.2] * 5
    net.set_parents([[0, 0, 0]] * 5, confidence=50.0)
    assert net.derived_layout() == Layout.all_shared(3, 5)
    shared = float(net.expected_models(fractions).detach())
    net.set_parents([[0, 1, 2]] * 5, confidence=50.0)
    assert net.derived_layout() == Layout.independent(3, 5)
    independent = float(net.expected_models(fractions).detach())
    assert shared == pytest.approx(1.0, abs=1e-6) and independent == pytest.approx(3.0, abs=1e-6)


# ------------------------------------------------------------------------------------ synthetic data
@pytest.fixture(scope="module")
def synthetic_config(tmp_path_factory: pytest.TempPathFactory, synthetic_data: dict[str, Any]) -> Path:
    root = tmp_path_factory.mktemp("searched")
    config = {
        "experiment": "searched",
        "tasks": list(CHANNELS),
        "data": synthetic_data,
        "backbone": {"name": "small_cnn", "input_size": list(SIZE), "blocks": 5},
        "train": {"iters": 6, "batch_size": 8, "lr": 0.005, "lr_step": 6, "eval_every": 6, "checkpoint_every": 6},
        "baselines": {"learn_to_branch": {"record_every": 2}, "automtl": {"record_every": 2}},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _with(path: Path, tmp_path: Path, section: str, **values: object) -> Path:
    config = yaml.safe_load(path.read_text())
    config["baselines"][section].update(values)
    out = tmp_path / f"{section}.yaml"
    out.write_text(yaml.safe_dump(config))
    return out


def test_flops_term_pushes_the_search_toward_sharing(synthetic_config: Path, tmp_path: Path) -> None:
    from treemtl.evaluation.baselines.learn_to_branch import search
    from treemtl.training.config import load_config

    fractions = [0.2] * 5
    settings = {"warmup_epochs": 0, "arch_lr": 0.3, "tau": 1.0}
    plain = search(load_config(_with(synthetic_config, tmp_path, "learn_to_branch", **settings)), fractions,
                   device="cpu", threads=1, iters=8, log=lambda _: None)
    costly = search(load_config(_with(synthetic_config, tmp_path, "learn_to_branch", flops_weight=20.0, **settings)),
                    fractions, device="cpu", threads=1, iters=8, log=lambda _: None)
    assert costly.expected_models < plain.expected_models
    assert sum(costly.layout.copies()) < sum(plain.layout.copies())
    assert costly.layout == Layout.all_shared(3, 5)


def test_budget_raises_the_flops_weight_while_over_budget(synthetic_config: Path, tmp_path: Path) -> None:
    from treemtl.evaluation.baselines.learn_to_branch import search
    from treemtl.training.config import load_config

    config = load_config(_with(synthetic_config, tmp_path, "learn_to_branch", warmup_epochs=0, budget=1.0, budget_lr=0.5))
    result = search(config, [0.2] * 5, device="cpu", threads=1, iters=4, log=lambda _: None)
    assert result.multiplier > 0  # the uniform start (about 2.3 models) is over a budget of 1 model
    assert [entry["iteration"] for entry in result.history] == [2, 4]


def test_learn_to_branch_cli_search_and_retrain(synthetic_config: Path, tmp_path: Path) -> None:
    from treemtl.cli import main

    profile = tmp_path / "blocks.json"
    split = split_model(build_backbone("small_cnn"), SIZE, 5)
    profile.write_text(json.dumps(split.to_json()))
    search_json = tmp_path / "search.json"
    assert main(["baselines", "learn-to-branch", "--config", str(synthetic_config), "--profile", str(profile),
                 "--device", "cpu", "--threads", "1", "--out", str(search_json)]) == 0
    found = json.loads(search_json.read_text())
    layout = Layout.parse(found["layout"])
    assert found["id"] == layout_id(layout) and found["iterations"] == 6
    assert 0 < found["flops_pct"] <= 100
    out = tmp_path / "final"
    assert main(["baselines", "learn-to-branch-retrain", "--config", str(synthetic_config), "--search", str(search_json),
                 "--device", "cpu", "--threads", "1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["layout"] == layout.format() and set(metrics["metrics"]) == set(CHANNELS)


def _profile(tmp_path: Path) -> Path:
    profile = tmp_path / "blocks.json"
    profile.write_text(json.dumps(split_model(build_backbone("small_cnn"), SIZE, 5).to_json()))
    return profile


def test_one_search_targets_the_budget_it_is_given(synthetic_config: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``budget: recommend`` runs one search per budget: each names its target (``--budget``), which
    its search.json records; without one the command says so."""
    from treemtl.cli import main

    config = _with(synthetic_config, tmp_path, "learn_to_branch", budget="recommend", warmup_epochs=0)
    profile = _profile(tmp_path)
    argv = ["baselines", "learn-to-branch", "--config", str(config), "--profile", str(profile),
            "--device", "cpu", "--threads", "1", "--iters", "2"]
    assert main([*argv, "--out", str(tmp_path / "none.json")]) == 2
    assert "baselines.learn_to_branch.budget is 'recommend': one search per recommend budget; name the budget " \
           "of this search (treemtl baselines learn-to-branch --budget)" in capsys.readouterr().err
    assert main([*argv, "--budget", "1.5", "--out", str(tmp_path / "budget1.5.json")]) == 0
    found = json.loads((tmp_path / "budget1.5.json").read_text())
    assert found["budget"] == 1.5 and found["settings"]["budget"] == 1.5
    assert found["within_budget"] == (found["models"] <= 1.5)
    assert found["history"][-1]["multiplier"] > 0  # about 2.3 models at the start: over 1.5, the weight grows
    assert main([*argv, "--budget", "none", "--out", str(tmp_path / "unconstrained.json")]) == 0
    found = json.loads((tmp_path / "unconstrained.json").read_text())
    assert "budget" not in found and found["settings"]["budget"] is None and found["multiplier"] == 0.0
    for wrong in ("0", "-1", "many", "inf"):
        assert main([*argv, "--budget", wrong, "--out", str(tmp_path / "x.json")]) == 2
        assert f"--budget: expected a positive number of backbone models or none, got {wrong!r}" in capsys.readouterr().err


@pytest.mark.parametrize(("budget", "targets"), [(None, (None,)), (1.5, (1.5,)), (3, (3.0,)),
                                                 ("recommend", (1.0, 1.5, 2.0))])
def test_learn_to_branch_budget_is_none_a_number_or_recommend(budget: object, targets: tuple) -> None:
    from treemtl.training.config import config_from_dict, learn_to_branch_budgets

    config = config_from_dict({"experiment": "t", "recommend": {"budgets": [1.0, 1.5, 2.0]},
                               "baselines": {"learn_to_branch": {"budget": budget}}})
    assert learn_to_branch_budgets(config.baselines.learn_to_branch.budget, config.recommend.budgets) == targets
    assert config_from_dict({"experiment": "t"}).baselines.learn_to_branch.budget is None  # the default: one search


@pytest.mark.parametrize(("budget", "message"), [
    ("all", "expected a number > 0 or one of recommend or null, got 'all'"),
    ("Recommend", "expected a number > 0 or one of recommend or null, got 'Recommend'"),
    ([1.0, 2.0], "expected a number > 0 or one of recommend or null, got [1.0, 2.0]"),
    (0, "expected a number > 0, got 0"),
    (-1.5, "expected a number > 0, got -1.5"),
])
def test_learn_to_branch_budget_refuses_other_values(budget: object, message: str) -> None:
    from treemtl.errors import TreeMTLError
    from treemtl.training.config import config_from_dict

    with pytest.raises(TreeMTLError) as info:
        config_from_dict({"experiment": "t", "baselines": {"learn_to_branch": {"budget": budget}}}, source="c.yaml")
    assert str(info.value) == f"c.yaml: baselines.learn_to_branch.budget: {message}"


# ------------------------------------------------------------------------------------ AutoMTL
@pytest.fixture(scope="module")
def compiled():
    torch.manual_seed(3)
    return compile_backbone(build_backbone("small_cnn"), SIZE)


def _expected(backbone: torch.nn.Module, heads: torch.nn.ModuleDict, x: torch.Tensor) -> dict[str, torch.Tensor]:
    features = backbone(x)
    return {t: F.interpolate(heads[t](features), size=x.shape[-2:], mode="bilinear", align_corners=False) for t in heads}


def test_compiler_finds_every_convolution_with_depth_and_skip(compiled) -> None:
    assert [op.module for op in compiled.operators] == [f"stage{i}.0" for i in range(5)]
    assert [op.depth for op in compiled.operators] == [1, 2, 3, 4, 5]
    assert all(op.has_skip and op.skip_flops > 0 for op in compiled.operators)  # every conv changes shape
    assert len(compiled.norms) == 5


@pytest.mark.parametrize("train_mode", [False, True])
def test_all_shared_policy_reproduces_the_backbone_exactly(compiled, train_mode: bool) -> None:
    model = AutoMTLSupermodel(compiled, _heads())
    model.set_policy(torch.full((5, 3), SHARED))
    backbone = copy.deepcopy(compiled.graph_module)
    model.train(train_mode), backbone.train(train_mode)
    x = torch.randn(4, *SIZE)
    with torch.no_grad():
        ours, theirs = model(x), _expected(backbone, model.heads, x)
    assert all(torch.equal(ours[t], theirs[t]) for t in CHANNELS)


def test_all_specific_policy_is_the_independent_models(compiled) -> None:
    torch.manual_seed(4)
    model = AutoMTLSupermodel(compiled, _heads())
    for p in model.specific.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    model.set_policy(torch.full((5, 3), SPECIFIC))
    model.eval()
    x = torch.randn(2, *SIZE)
    with torch.no_grad():
        ours = model(x)
        for t, task in enumerate(CHANNELS):
            independent = copy.deepcopy(compiled.graph_module).eval()
            for op in compiled.operators:
                independent.get_submodule(op.module).load_state_dict(model.specific[op.module.replace(".", "_")][t].state_dict())
            for name in compiled.norms:
                target = next(n.target for n in compiled.graph_module.graph.nodes if n.name == name)
                independent.get_submodule(target).load_state_dict(model.norms[target.replace(".", "_")][t].state_dict())
            expected = _expected(independent, model.heads, x)[task]
            assert torch.equal(ours[task], expected)


def test_search_mode_trains_the_policy_with_the_regularisation(compiled) -> None:
    model = AutoMTLSupermodel(compiled, _heads())
    model.mode, model.tau = "search", 5.0
    out = model(torch.randn(2, *SIZE))
    reg = model.policy_regularization()
    (sum(o.mean() for o in out.values()) + reg).backward()
    assert model.policy.grad is not None and model.policy.grad.abs().sum() > 0
    # Eq. 2 weighs shallow operators most and the deepest not at all
    assert model.reg_weights.tolist() == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])
    model.policy.grad = None
    model.policy_regularization(torch.softmax(model.masked_logits(), -1)).backward()
    assert model.policy.grad[-1].abs().sum() == 0 and model.policy.grad[0].abs().sum() > 0


@pytest.mark.parametrize("policy", [
    [[SHARED] * 3] * 5,
    [[SPECIFIC] * 3] * 5,
    [[SHARED] * 3, [SHARED, SHARED, SPECIFIC], [SHARED, SKIP, SPECIFIC], [SPECIFIC, SKIP, SHARED], [SKIP] * 3],
])
def test_derived_model_fvcore_flops_match_the_policy(compiled, policy: list[list[int]]) -> None:
    model = AutoMTLModel(compiled, policy, _heads())
    body = flops_by_module(model, torch.zeros(1, *SIZE))["body"]
    assert body == model.policy_flops()
    backbone = compiled.graph_module
    flops, params = count_flops(backbone, torch.zeros(1, *SIZE)), count_params(backbone)
    if policy[0] == [SHARED] * 3 and policy[-1] == [SHARED] * 3:  # = the all-shared tree (#0)
        assert body == flops and count_params(model.body) == params
    if policy == [[SPECIFIC] * 3] * 5:  # = the independent tree
        assert body == 3 * flops and count_params(model.body) == 3 * params


def test_derived_model_shares_a_common_prefix_once(compiled) -> None:
    policy = [[SHARED] * 3, [SHARED] * 3, [SHARED, SHARED, SPECIFIC], [SHARED, SHARED, SPECIFIC], [SHARED, SPECIFIC, SPECIFIC]]
    model = AutoMTLModel(compiled, policy, _heads())
    # blocks of the tree 012|012|01,2|01,2|0,1,2: the same FLOPs as that layout
    per_op = [op.flops + compiled.module_flops[n] for op, n in zip(compiled.operators, compiled.norms)]
    assert model.policy_flops() == sum(c * f for c, f in zip([1, 1, 2, 2, 3], per_op))


def test_automtl_stages_and_post_train_end_to_end(synthetic_config: Path, tmp_path: Path) -> None:
    from treemtl.cli import main

    policy = tmp_path / "policy.json"
    assert main(["baselines", "automtl", "--config", str(synthetic_config), "--device", "cpu", "--threads", "1",
                 "--out", str(policy)]) == 0
    found = json.loads(policy.read_text())
    assert [e["stage"] for e in found["history"]] == ["pre-train", "policy-train", "policy-train"]
    assert found["schedule"] == {"warmup": 2, "search": 4, "policy_iters": 1, "weight_iters": 1, "tau_every": 1}
    assert len(found["policy"]) == 5 and all(len(row) == 3 for row in found["policy"])
    out = tmp_path / "final"
    assert main(["baselines", "automtl-retrain", "--config", str(synthetic_config), "--policy", str(policy),
                 "--device", "cpu", "--threads", "1", "--out", str(out)]) == 0
    cost = json.loads((out / "cost.json").read_text())
    assert cost["flops"] == cost["policy_flops"] and 0 < cost["flops_pct"] <= 100 * 3
    assert set(json.loads((out / "metrics.json").read_text())["metrics"]) == set(CHANNELS)


def test_policy_of_another_backbone_is_refused(synthetic_config: Path, tmp_path: Path, compiled) -> None:
    from treemtl.errors import TreeMTLError
    from treemtl.evaluation.baselines.automtl import read_policy
    from treemtl.training.config import load_config

    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"method": "automtl", "tasks": list(CHANNELS), "operators": [{"node": "x"}], "policy": [[0, 0, 0]]}))
    with pytest.raises(TreeMTLError, match="do not match backbone"):
        read_policy(path, load_config(synthetic_config), compiled)


# ------------------------------------------------------------------------------------ workflow
def test_dry_run_of_the_searched_baselines_target(tmp_path: Path) -> None:
    from workflow_helpers import REPO, dry_run

    configfile = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", configfile)
    counts = dry_run(tmp_path, configfile, "--", "searched_baselines")
    for rule in ("learn_to_branch_search", "learn_to_branch_retrain", "automtl_search", "automtl_retrain",
                 "searched_baselines_table", "searched_baselines"):
        assert counts.get(rule) == 1, counts


@pytest.mark.parametrize("target", ["searched_baselines", "oracle"])
def test_dry_run_has_one_learn_to_branch_search_per_budget(target: str, tmp_path: Path) -> None:
    """``budget: recommend``: one search and one retraining per recommend budget, each with its target,
    for the searched table and for the comparison tables (the ``oracle`` target) alike."""
    from workflow_helpers import REPO, job_counts, snakemake

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.setdefault("baselines", {}).setdefault("learn_to_branch", {})["budget"] = "recommend"
    config["recommend"]["budgets"] = [1.0, 1.5, 2.5]
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--dry-run", "--printshellcmds", target)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    counts = job_counts(output)
    assert counts["learn_to_branch_search"] == counts["learn_to_branch_retrain"] == 3
    assert counts["automtl_search"] == counts["automtl_retrain"] == 1
    assert counts[{"oracle": "comparison_report", "searched_baselines": "searched_baselines_table"}[target]] == 1
    folder = ResultsTree.of_experiment(config["experiment"]).baselines_dir / "learn_to_branch"
    for budget, label in ((1.0, "1"), (1.5, "1.5"), (2.5, "2.5")):
        assert f"--budget {budget!r} --threads 1 --out {folder}/budget{label}/search.json " in output
        assert f"--search {folder}/budget{label}/search.json " in output
    assert "unconstrained" not in output


def test_search_session_builds_declared_tasks_like_the_trainer(every_task_type) -> None:  # type: ignore[no-untyped-def]
    from treemtl.evaluation.baselines.search_session import SearchSession
    from treemtl.training.config import config_from_dict
    from treemtl.training.tasks import head_channels, pooled_tasks

    config = config_from_dict({"experiment": "declared", "tasks": every_task_type,
                               "data": {"dataset": "folder", "root": "unused"}})
    session = SearchSession.open(config, device="cpu", threads=1, train_set=[])  # type: ignore[arg-type]
    tasks = [task["name"] for task in every_task_type]
    assert session.out_channels == head_channels(tasks, 0, config)
    assert session.out_channels["drivable"] == 2 and session.out_channels["weather"] == 4
    assert session.pooled == pooled_tasks(tasks, config) == {"weather", "age"}
