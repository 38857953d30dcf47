"""Names, paths and input functions shared by every rule file.

Everything here is derived from the validated config; rules only wire files together.
Every job reads the resolved config (results/<experiment>/config.yaml), so
``--config key=value`` overrides reach the ``treemtl`` CLI too.
"""

import csv
from itertools import combinations
from pathlib import Path

from snakemake.exceptions import WorkflowError

from treemtl.core.layout import Layout, layout_from_id


def write_resolved_config(values, path):
    """Parse ``values`` with treemtl.training.config (the CLI's rules) and write them as YAML.

    The file is only replaced when its text changes, so concurrent parses (cluster
    jobs) never race on it and a config error stops the run before any job starts.
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
    target = Path(path)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        write_text_atomic(target, text)
    return path


RESULTS = f"results/{config['experiment']}"
TASKS = list(config["tasks"])
TASK_LIST = ",".join(TASKS)
NUM_BLOCKS = int(config["backbone"]["blocks"])
PAIRS = [f"{a}__{b}" for a, b in combinations(TASKS, 2)]
BRANCHES = list(range(1, NUM_BLOCKS + 1))
REPEAT_SEEDS = list(config["repeat_seeds"])
BUDGETS = [f"{float(budget):g}" for budget in config["recommend"]["budgets"]]
SYNTHETIC = config["data"]["dataset"] == "synthetic"

#: Written while the workflow is parsed rather than by a job: jobs read it as
#: ``ancient`` input and carry the config sections they depend on as params, so a new
#: budget reruns the recommendation but no training. (A job writing it would mask every
#: downstream job from Snakemake's other rerun checks.)
CONFIG_FILE = write_resolved_config(config, f"{RESULTS}/config.yaml")
DATA_DIR = config["data"]["root"] or f"{RESULTS}/data"
DATA_READY = (
    f"{DATA_DIR}/manifest.json" if SYNTHETIC else f"{RESULTS}/data/located.json"
)
BLOCKS_JSON = f"{RESULTS}/backbone/blocks.json"
TWO_TASK_TABLE = f"{RESULTS}/estimator/two_task_table.csv"
WEIGHTS = f"{RESULTS}/estimator/weights.json"
LAYOUTS_CSV = f"{RESULTS}/layouts.csv"
PERFORMANCE_TABLE = f"{RESULTS}/performance_table.csv"
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


def single_metrics(tasks=TASKS):
    """metrics.json of single-task models (the reference of relative performance)."""
    return [f"{RESULTS}/single/{task}/metrics.json" for task in tasks]


def pair_metrics():
    """metrics.json of every two-task model: C(T,2) pairs x branch points 1..B."""
    return [
        f"{RESULTS}/pairs/{pair}/branch{branch}/metrics.json"
        for pair in PAIRS
        for branch in BRANCHES
    ]


def repeat_metrics():
    """metrics.json of the repeat-seed runs of every single- and two-task model."""
    folders = [f"{RESULTS}/single/{task}" for task in TASKS] + [
        f"{RESULTS}/pairs/{pair}/branch{branch}" for pair in PAIRS for branch in BRANCHES
    ]
    return [
        f"{folder}/seed{seed}/metrics.json" for seed in REPEAT_SEEDS for folder in folders
    ]


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


def recommendation_tables():
    """Per-budget recommendation tables (outputs of the ``recommend`` checkpoint)."""
    return [f"{RESULTS}/recommend/budget{budget}.csv" for budget in BUDGETS]


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
    return [
        f"{RESULTS}/final/{layout_id}/metrics.json"
        for layout_id in recommended_ids(wildcards)
    ]
