"""Names, paths and input functions shared by every rule file.

Everything here is derived from the validated config; rules only wire files together, and
every path comes from the results tree (:class:`treemtl.results_tree.ResultsTree`).

Every job reads the resolved config of its own invocation, so ``--config key=value``
overrides reach the ``treemtl`` CLI too. It is written while the workflow is parsed, to
``configs/<digest of its text>.yaml``, and never modified afterwards: another ``snakemake``
call (a dry run, or one that the lock refuses) can add a file there but never change the file
a running invocation's jobs read.
"""

import csv
import hashlib
import re
from dataclasses import dataclass
from itertools import combinations

from snakemake.exceptions import WorkflowError

from treemtl.core.best_layouts import uses_search
from treemtl.core.branch_interpolation import trained_branches
from treemtl.core.layout import Layout, layout_from_id
from treemtl.core.weighting import parse_weighting
from treemtl.results_tree import ResultsTree, budget_label, learn_to_branch_name, pair_name
from treemtl.training.config import learn_to_branch_budgets


def write_resolved_config(values, tree):
    """Parse ``values`` with treemtl.training.config (the CLI's rules); return the YAML's digest.

    The YAML goes to ``tree.resolved_config(digest)`` unless that file exists already (written
    atomically, so concurrent parses never see half a file); a config error stops the run
    before any job starts.
    """
    import yaml

    from treemtl.atomic import write_text_atomic
    from treemtl.training.config import config_from_dict
    from treemtl.errors import TreeMTLError

    try:
        resolved = config_from_dict(values, source="config").to_dict()
    except TreeMTLError as error:
        raise WorkflowError(str(error)) from None
    text = yaml.safe_dump(resolved, sort_keys=False)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    target = tree.resolved_config(digest)
    if not target.is_file():
        write_text_atomic(target, text)
    elif target.read_text(encoding="utf-8") != text:
        raise WorkflowError(f"{target}: edited after it was written; delete it and run again")
    return digest


@dataclass(frozen=True)
class InvocationConfig:
    """The resolved config file of this invocation, handed to the jobs as a param.

    It formats as the file's path in a shell command. Snakemake's ``params`` rerun trigger
    records builtin values only and this handle is not one, so *which* file holds the config
    is never a reason to rerun a job; *what* is in it is, through the config sections each rule
    carries as builtin params (``RECIPE``, budgets, top-k, ...). It is not an input either:
    the ``input`` trigger would rerun every job whenever the config's digest changes.
    """

    path: str

    def __str__(self):
        return self.path


TREE = ResultsTree.of_experiment(config["experiment"])
TASKS = [task if isinstance(task, str) else task["name"] for task in config["tasks"]]
TASK_LIST = ",".join(TASKS)
NUM_BLOCKS = int(config["backbone"]["blocks"])
PAIRS = [pair_name(a, b) for a, b in combinations(TASKS, 2)]
BRANCHES = list(range(1, NUM_BLOCKS + 1))
REPEAT_SEEDS = list(config["repeat_seeds"])
BUDGETS = [budget_label(float(budget)) for budget in config["recommend"]["budgets"]]
#: Learning to Branch's searches by folder name (``budget<x>`` or ``unconstrained``) and FLOPs
#: target: ``baselines.learn_to_branch.budget`` null or a number gives one, ``recommend`` one per budget.
LTB_SEARCHES = {
    learn_to_branch_name(target): target
    for target in learn_to_branch_budgets(
        config["baselines"]["learn_to_branch"]["budget"], config["recommend"]["budgets"]
    )
}
SYNTHETIC = config["data"]["dataset"] == "synthetic"
#: A design space of more than ``recommend.search_above`` layouts is searched: no layouts.csv or
#: performance table; each budget's picks and the report's figure come from the exact search.
SEARCH = uses_search(len(TASKS), NUM_BLOCKS, config["recommend"]["search_above"])
#: How the two-task table is measured (``pairs``, docs/pair_strategies.md): the tree holding its
#: runs (``short/`` for short runs), the branch points trained per pair, whether the repeat seeds
#: repeat the pairs too, and the iterations of a fine-tune or short run.
PAIRS_STRATEGY = config["pairs"]["strategy"]
TABLE_TREE = TREE.short_runs if PAIRS_STRATEGY == "short" else TREE
TABLE_BRANCHES = list(trained_branches(config["pairs"]["branches"], NUM_BLOCKS))
REPEAT_PAIRS = config["pairs"]["repeat_seeds_for"] == "all"
PAIR_ITERS = max(1, round(config["pairs"]["fraction"] * config["train"]["iters"]))
#: ``estimator.weights`` in the form of the ``--weighting`` flag (svde, equal or task=priority,...).
WEIGHTING = parse_weighting(config["estimator"]["weights"], "estimator.weights").text()

CONFIG_DIGEST = write_resolved_config(config, TREE)
CONFIG_FILE = InvocationConfig(str(TREE.resolved_config(CONFIG_DIGEST)))
DATA_READY = TREE.data_ready(SYNTHETIC, config["data"]["root"])
ENV = "../../envs/treemtl.yaml"

#: The training recipe. It is a param of every training rule (rerun trigger
#: ``params``): changing it retrains; budgets and top-k are deliberately not part of it.
RECIPE = {
    "data": config["data"],
    "backbone": config["backbone"],
    "head": config["head"],
    "train": config["train"],
    "seed": config["seed"],
}

#: The all-shared layout (#0) is always trained with the recommendations: it is the
#: reference row every recommendation table is read against.
ALL_SHARED_ID = 0


wildcard_constraints:
    task="|".join(TASKS),
    pair="|".join(PAIRS) or "[^/]+",
    branch=r"\d+",
    repeat_seed=r"\d+",
    budget=r"\d+(\.\d+)?",
    layout_id=r"\d+",
    ltb_search="|".join(re.escape(name) for name in LTB_SEARCHES),


def single_metrics(tasks=TASKS):
    """metrics.json of single-task models (the reference of relative performance)."""
    return [TREE.single_metrics(task) for task in tasks]


def two_task_metrics():
    """metrics.json of every run the two-task table averages (main seed and repeat seeds)."""
    return TABLE_TREE.two_task_metrics(TASKS, NUM_BLOCKS, REPEAT_SEEDS, TABLE_BRANCHES, REPEAT_PAIRS)


def trained_models():
    """model.pt of every single- and two-task run (What-to-Share reads the single-task ones)."""
    models = TABLE_TREE.two_task_models(TASKS, NUM_BLOCKS, REPEAT_SEEDS, TABLE_BRANCHES, REPEAT_PAIRS)
    if TABLE_TREE != TREE:
        models += [TREE.single_model(task) for task in TASKS]
    return models


def recommender_benchmarks():
    """Benchmark files of every run the recommender trains before it can recommend (singles, pairs, repeats)."""
    runs = TABLE_TREE.two_task_runs(TASKS, NUM_BLOCKS, REPEAT_SEEDS, TABLE_BRANCHES, REPEAT_PAIRS)
    if TABLE_TREE != TREE:
        runs += [TREE.single_dir(task) for task in TASKS]
    return [TREE.benchmark(run.relative_to(TREE.root).as_posix()) for run in runs]


def reference_flags(wildcards, input):
    """``--reference FILE`` per single-task metrics.json: one shell word per item, quoted by ``:q``."""
    return [word for path in input.reference for word in ("--reference", path)]


def pair_tasks(pair):
    """Task list of a pair wildcard (``a__b`` -> ``a,b``), in config task order."""
    return pair.replace("__", ",")


def pair_references(wildcards):
    """Single-task metrics of the two tasks of a pair (validation monitor reference)."""
    return single_metrics(wildcards.pair.split("__"))


def single_layout():
    """Text of the single-task layout with the configured number of blocks."""
    return Layout.all_shared(1, NUM_BLOCKS).format()


def two_task_layout(wildcards):
    """Text of the two-task layout sharing blocks < branch."""
    return Layout.two_task(int(wildcards.branch), NUM_BLOCKS).format()


def final_layout(wildcards):
    """Text of a layout given its paper id (a param, so a new task list retrains it)."""
    return layout_from_id(int(wildcards.layout_id), len(TASKS), NUM_BLOCKS).format()


def score_files():
    """Where the scores of the layouts are kept: the stored table, or a searched space's landscape."""
    if SEARCH:
        return [TREE.score_landscape]
    return [TREE.layouts, TREE.performance_table, TREE.performance_lookup]


def recommendation_tables():
    """Per-budget recommendation tables (outputs of the ``recommend`` checkpoint)."""
    return [TREE.recommendation(budget) for budget in BUDGETS]


def recommended_ids(wildcards=None):
    """Layout ids to train: every budget's top-k plus the all-shared reference.

    Reading the checkpoint outputs makes Snakemake re-evaluate the DAG once the
    recommendations exist, so a layout recommended for two budgets is trained once.
    """
    ids = {ALL_SHARED_ID}
    for budget in BUDGETS:
        table = checkpoints.recommend.get(budget=budget).output.table
        with open(table, newline="") as handle:
            ids.update(int(row["id"]) for row in csv.DictReader(handle))
    return sorted(ids)


def final_metrics(wildcards=None):
    """metrics.json of every layout chosen by :func:`recommended_ids`."""
    return [TREE.final_metrics(layout_id) for layout_id in recommended_ids(wildcards)]


def final_models(wildcards=None):
    """model.pt of every layout chosen by :func:`recommended_ids`."""
    return [TREE.final_model(layout_id) for layout_id in recommended_ids(wildcards)]


def ltb_budget_flag(wildcards):
    """``--budget`` of one Learning to Branch search: its FLOPs target, or ``none``."""
    target = LTB_SEARCHES[wildcards.ltb_search]
    return "none" if target is None else repr(target)


def searched_results():
    """What the tables read of the searched baselines: each Learning to Branch search's
    ``search.json`` (its tree's cost) and retrained metrics, AutoMTL's metrics and ``cost.json``."""
    files = []
    for name in LTB_SEARCHES:
        files += [TREE.learn_to_branch_search(name), TREE.learn_to_branch_metrics(name)]
    return files + [TREE.automtl_metrics, TREE.automtl_cost]


def searched_benchmarks():
    """Benchmark files of every search and retraining of the searched baselines (their seconds)."""
    files = [path for name in LTB_SEARCHES for path in TREE.learn_to_branch_benchmarks(name)]
    return files + list(TREE.automtl_benchmarks)


def final_benchmarks(wildcards=None):
    """Benchmark files of every final training (the seconds each recommended layout took)."""
    return [TREE.benchmark(f"final/{layout_id}") for layout_id in recommended_ids(wildcards)]
