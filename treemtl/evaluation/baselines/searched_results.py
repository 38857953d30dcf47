"""The retrained models of the searched baselines in a results folder, each with its own cost file.

Learning to Branch has one model per search of the config (one per FLOPs target,
:func:`~treemtl.training.config.learn_to_branch_budgets`), its cost in the search's ``search.json``
(core.cost of the derived tree); AutoMTL has one, its cost in ``final/cost.json`` (fvcore on the
derived model). The searched-baselines table and the comparison tables both read them here, so
both show the same rows. A search whose retraining has not finished has no model yet and is left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree
from treemtl.training.config import ExperimentConfig, learn_to_branch_budgets

LEARN_TO_BRANCH = "Learn-to-Branch"
AUTOMTL = "AutoMTL"

#: Metrics by task and metric name, and where they come from (a row's ``Source``).
Trained = tuple[dict[str, dict[str, float]], str]


def fitting_budget(models: float, budgets: Sequence[float]) -> str:
    """The smallest configured budget (backbones' worth of FLOPs) that ``models`` fits."""
    fits = [b for b in sorted(budgets) if models <= b * (1 + 1e-9)]
    return f"{fits[0]:g} models" if fits else "over every budget"


@dataclass(frozen=True)
class SearchedModel:
    """One retrained model of a searched baseline."""

    method: str
    #: The FLOPs target of its search in backbone models (None: searched without one).
    target: float | None
    label: str
    layout: str
    #: ``flops_pct`` and ``params_pct`` (of T independent backbones) and ``models`` (backbones' worth of FLOPs).
    cost: dict[str, float]
    trained: Trained
    #: Benchmark files of its search and its retraining.
    benchmarks: tuple[Path, Path]

    def budget(self, budgets: Sequence[float]) -> str:
        """Its ``Budget`` column: the target it searched for, else the smallest configured budget it fits."""
        if self.target is not None:
            return f"{self.target:g} models"
        return fitting_budget(float(self.cost["models"]), budgets)

    @property
    def note(self) -> str:
        """How it was chosen, in words (the comparison's ``Choice`` column)."""
        if self.method == AUTOMTL:
            return "operator-level policy, post-trained"
        if self.target is None:
            return "search without a FLOPs target, retrained"
        over = float(self.cost["models"]) > self.target * (1 + 1e-9)
        return f"search for <= {self.target:g} models, retrained" + (" (over the target)" if over else "")


def _cost(document: dict, path: Path) -> dict[str, float]:
    try:
        return {key: float(document[key]) for key in ("flops_pct", "params_pct", "models")}
    except (KeyError, TypeError, ValueError) as error:
        raise TreeMTLError(f"{path}: expected flops_pct, params_pct and models ({error!r})") from None


def searched_models(config: ExperimentConfig, tree: ResultsTree) -> list[SearchedModel]:
    """Every retrained searched model: Learning to Branch's per target in config order, then AutoMTL's."""
    from treemtl.evaluation.baselines.learn_to_branch import SEARCH_FILE
    from treemtl.training.metrics_file import read_metrics

    tasks = tuple(config.tasks)
    found: list[SearchedModel] = []
    settings = config.baselines.learn_to_branch
    for target in learn_to_branch_budgets(settings.budget, config.recommend.budgets):
        if not tree.learn_to_branch_metrics(target).is_file():
            continue
        search = SEARCH_FILE.read(tree.learn_to_branch_search(target), config)
        found.append(SearchedModel(
            LEARN_TO_BRANCH, target, f"#{search['id']}", str(search["layout"]),
            _cost(search, tree.learn_to_branch_search(target)),
            (read_metrics(tree.learn_to_branch_metrics(target), tasks), "learn-to-branch retrain"),
            tree.learn_to_branch_benchmarks(target)))
    if tree.automtl_metrics.is_file():
        try:
            cost = json.loads(tree.automtl_cost.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise TreeMTLError(f"{tree.automtl_cost}: cannot read the AutoMTL cost ({error}); "
                               "run treemtl baselines automtl-retrain again") from None
        found.append(SearchedModel(
            AUTOMTL, None, "derived model", "operator-level policy", _cost(cost, tree.automtl_cost),
            (read_metrics(tree.automtl_metrics, tasks), "automtl post-train"), tree.automtl_benchmarks))
    return found
