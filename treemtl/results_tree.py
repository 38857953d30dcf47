"""Where every artifact of an experiment lives: the one map of ``results/<experiment>/``.

The workflow's rules (Snakemake parses them, so this module imports nothing heavy) and every
Python step that reads a results folder ask :class:`ResultsTree` for paths instead of joining
folder names by hand, so the layout below is written down once::

    configs/<digest>.yaml                resolved config of one invocation (never modified)
    config.yaml                          copy of the latest invocation's resolved config
    data/                                synthetic benchmark (manifest.json) or data/located.json
    backbone/blocks.json                 coarse blocks with FLOPs and params
    single/<task>[/seed<s>]/             single-task runs (metrics.json, model.pt)
    pairs/<a>__<b>/branch<k>[/seed<s>]/  two-task runs
    short/single/..., short/pairs/...    the table's runs when pairs.strategy is short (a tree of its own)
    estimator/two_task_table.csv, estimator/weights.json
    layouts.csv, performance_table.csv (+ performance_table.npz, the same table for lookups)
    score_landscape.csv                  instead of those three when the space is searched
    recommend/budget<x>.csv              top-k per budget
    final/<id>/, final/trained_ids.txt   trained recommendations
    report/                              recommendation tables and figures; report/comparison/
    oracle/                              sample.csv, layouts/<id>/seed<s>/, correlation.json
    baselines/                           What-to-Share and Task-Grouping rankings;
                                         learn_to_branch/<budget<x> or unconstrained>/ (one per search),
                                         automtl/ (search, final/), searched.{md,csv,tex,png}
    logs/<name>.log, benchmarks/<name>.tsv

Arguments that name a run (task, pair, branch, seed, layout id, budget) may also be Snakemake
wildcards such as ``"{task}"``: the result is then the rule's path pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from treemtl.errors import TreeMTLError

#: A run's name part: a value (task name, id, seed, branch) or a wildcard like ``"{task}"``.
Key = str | int

METRICS = "metrics.json"
MODEL = "model.pt"


def pair_name(task_a: str, task_b: str) -> str:
    """Folder name of the pair (a, b): ``a__b``, in config task order."""
    return f"{task_a}__{task_b}"


def budget_label(budget: float | str) -> str:
    """``1.5`` -> ``1.5``, ``2.0`` -> ``2``: the spelling of a budget in file names."""
    return budget if isinstance(budget, str) else f"{float(budget):g}"


def learn_to_branch_name(budget: float | str | None) -> str:
    """Folder of the Learning to Branch search for a FLOPs target: ``budget<x>``, or
    ``unconstrained`` for None; a string (a wildcard such as ``"{ltb_search}"``) is the name itself."""
    if isinstance(budget, str):
        return budget
    return "unconstrained" if budget is None else f"budget{budget_label(budget)}"


def _run(folder: Path, seed: Key | None) -> Path:
    """The main run lives in ``folder``; a repeat with another seed in ``folder/seed<s>``."""
    return folder if seed is None else folder / f"seed{seed}"


@dataclass(frozen=True)
class ResultsTree:
    """The results folder of one experiment and the path of each artifact in it."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of_experiment(cls, experiment: str, results: str | Path = "results") -> ResultsTree:
        return cls(Path(results) / experiment)

    @classmethod
    def of_training_run(cls, path: str | Path) -> ResultsTree:
        """The tree holding a file of a single- or two-task run.

        ``<root>/single/<task>[/seed<s>]/<file>`` or ``<root>/pairs/<a>__<b>/branch<k>[/seed<s>]/<file>``.
        """
        parts = Path(path).parts
        for kind, depth in (("single", 3), ("pairs", 4)):
            for seeded in (0, 1):
                index = len(parts) - depth - seeded
                if index >= 0 and parts[index] == kind and (not seeded or parts[-2].startswith("seed")):
                    return cls(Path(*parts[:index]) if index else Path("."))
        raise TreeMTLError(
            f"{path}: not a file of a training run (expected <results>/single/<task>[/seed<s>]/<file> "
            "or <results>/pairs/<a>__<b>/branch<k>[/seed<s>]/<file>)"
        )

    # ------------------------------------------------------------------ configuration and data
    def resolved_config(self, digest: str) -> Path:
        """Resolved config of one invocation, named by a digest of its content."""
        return self.root / "configs" / f"{digest}.yaml"

    @property
    def config_copy(self) -> Path:
        """Human-readable copy of the latest invocation's resolved config."""
        return self.root / "config.yaml"

    @property
    def data_dir(self) -> Path:
        """Default folder of the rendered synthetic benchmark (when ``data.root`` is empty)."""
        return self.root / "data"

    def data_ready(self, synthetic: bool, data_root: str | None) -> Path:
        """The marker that the dataset is usable: the benchmark's manifest, or the located-dataset note."""
        if synthetic:
            return Path(data_root or self.data_dir) / "manifest.json"
        return self.data_dir / "located.json"

    @property
    def blocks_json(self) -> Path:
        return self.root / "backbone" / "blocks.json"

    # ------------------------------------------------------------------ single- and two-task runs
    def single_dir(self, task: Key, seed: Key | None = None) -> Path:
        return _run(self.root / "single" / str(task), seed)

    def single_metrics(self, task: Key, seed: Key | None = None) -> Path:
        return self.single_dir(task, seed) / METRICS

    def single_model(self, task: Key, seed: Key | None = None) -> Path:
        return self.single_dir(task, seed) / MODEL

    def pair_dir(self, pair: str, branch: Key, seed: Key | None = None) -> Path:
        """Run of the pair ``pair`` (see :func:`pair_name`) branching at block ``branch``."""
        return _run(self.root / "pairs" / pair / f"branch{branch}", seed)

    def pair_metrics(self, pair: str, branch: Key, seed: Key | None = None) -> Path:
        return self.pair_dir(pair, branch, seed) / METRICS

    def pair_model(self, pair: str, branch: Key, seed: Key | None = None) -> Path:
        return self.pair_dir(pair, branch, seed) / MODEL

    def two_task_runs(self, tasks: Sequence[str], num_blocks: int, repeat_seeds: Sequence[int] = (),
                      branches: Sequence[int] | None = None, repeat_pairs: bool = True) -> list[Path]:
        """Folders of every run the two-task table averages: singles, then pairs, for each seed in turn.

        ``branches`` (default 1..B) are the branch points trained per pair; with ``repeat_pairs``
        False the repeat seeds repeat the singles only.
        """
        pairs = [pair_name(a, b) for a, b in combinations(tasks, 2)]
        points = range(1, num_blocks + 1) if branches is None else sorted(branches)
        folders: list[Path] = []
        for seed in (None, *repeat_seeds):
            folders += [self.single_dir(task, seed) for task in tasks]
            if seed is None or repeat_pairs:
                folders += [self.pair_dir(pair, k, seed) for pair in pairs for k in points]
        return folders

    def two_task_metrics(self, tasks: Sequence[str], num_blocks: int, repeat_seeds: Sequence[int] = (),
                         branches: Sequence[int] | None = None, repeat_pairs: bool = True) -> list[Path]:
        """metrics.json of every run of :meth:`two_task_runs` (what the two-task table reads)."""
        return [folder / METRICS for folder in self.two_task_runs(tasks, num_blocks, repeat_seeds, branches, repeat_pairs)]

    def two_task_models(self, tasks: Sequence[str], num_blocks: int, repeat_seeds: Sequence[int] = (),
                        branches: Sequence[int] | None = None, repeat_pairs: bool = True) -> list[Path]:
        """model.pt of every run of :meth:`two_task_runs`."""
        return [folder / MODEL for folder in self.two_task_runs(tasks, num_blocks, repeat_seeds, branches, repeat_pairs)]

    @property
    def short_runs(self) -> ResultsTree:
        """The tree of the short table runs (``pairs.strategy: short``): singles and pairs of fewer iterations.

        Their own single-task models are the reference of their pairs, so both sides of every Δ
        had the same training length.
        """
        return ResultsTree(self.root / "short")

    # ------------------------------------------------------------------ estimator and recommendations
    @property
    def two_task_table(self) -> Path:
        return self.root / "estimator" / "two_task_table.csv"

    @property
    def weights(self) -> Path:
        return self.root / "estimator" / "weights.json"

    @property
    def layouts(self) -> Path:
        return self.root / "layouts.csv"

    @property
    def performance_table(self) -> Path:
        return self.root / "performance_table.csv"

    @property
    def performance_lookup(self) -> Path:
        """The performance table in binary form, written beside the CSV for fast budget queries."""
        return self.root / "performance_table.npz"

    @property
    def score_landscape(self) -> Path:
        """A searched space's exact front and sampled layouts: what the report draws instead of the table."""
        return self.root / "score_landscape.csv"

    def recommendation(self, budget: float | str) -> Path:
        return self.root / "recommend" / f"budget{budget_label(budget)}.csv"

    def final_dir(self, layout_id: Key) -> Path:
        return self.root / "final" / str(layout_id)

    def final_metrics(self, layout_id: Key) -> Path:
        return self.final_dir(layout_id) / METRICS

    def final_model(self, layout_id: Key) -> Path:
        return self.final_dir(layout_id) / MODEL

    @property
    def trained_ids(self) -> Path:
        return self.root / "final" / "trained_ids.txt"

    # ------------------------------------------------------------------ report
    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def report_file(self, name: str) -> Path:
        """``recommendations.{md,csv,tex}``, ``summary.md``, ``layouts.png``, ``score_vs_flops.png``."""
        return self.report_dir / name

    @property
    def comparison_dir(self) -> Path:
        return self.report_dir / "comparison"

    def comparison_file(self, name: str) -> Path:
        """``comparison.md``, ``table<n>_*.md`` and the figures of the comparison."""
        return self.comparison_dir / name

    @property
    def comparison_models(self) -> Path:
        """Ids of the layouts the comparison tables show."""
        return self.comparison_dir / "models.json"

    # ------------------------------------------------------------------ oracle and baselines
    @property
    def oracle_dir(self) -> Path:
        return self.root / "oracle"

    @property
    def oracle_sample(self) -> Path:
        return self.oracle_dir / "sample.csv"

    def oracle_metrics(self, layout_id: Key, seed: Key) -> Path:
        """Metrics of the oracle training of one layout with one seed."""
        return self.oracle_dir / "layouts" / str(layout_id) / f"seed{seed}" / METRICS

    @property
    def oracle_correlation(self) -> Path:
        return self.oracle_dir / "correlation.json"

    @property
    def oracle_scatter(self) -> Path:
        return self.oracle_dir / "scatter.png"

    @property
    def baselines_dir(self) -> Path:
        return self.root / "baselines"

    @property
    def what_to_share_csv(self) -> Path:
        return self.baselines_dir / "what_to_share.csv"

    @property
    def what_to_share_json(self) -> Path:
        return self.baselines_dir / "what_to_share.json"

    @property
    def task_grouping_csv(self) -> Path:
        return self.baselines_dir / "task_grouping.csv"

    @property
    def task_grouping_json(self) -> Path:
        return self.baselines_dir / "task_grouping.json"

    def learn_to_branch_dir(self, budget: float | str | None) -> Path:
        """One Learning to Branch search (see :func:`learn_to_branch_name`): ``search.json`` (the
        derived tree) and ``final/`` (its retraining)."""
        return self.baselines_dir / "learn_to_branch" / learn_to_branch_name(budget)

    def learn_to_branch_search(self, budget: float | str | None) -> Path:
        return self.learn_to_branch_dir(budget) / "search.json"

    def learn_to_branch_metrics(self, budget: float | str | None) -> Path:
        return self.learn_to_branch_dir(budget) / "final" / METRICS

    def learn_to_branch_model(self, budget: float | str | None) -> Path:
        return self.learn_to_branch_dir(budget) / "final" / MODEL

    @property
    def automtl_dir(self) -> Path:
        """AutoMTL: ``policy.json`` (the derived policy) and ``final/`` (post-train, ``cost.json``)."""
        return self.baselines_dir / "automtl"

    @property
    def automtl_policy(self) -> Path:
        return self.automtl_dir / "policy.json"

    @property
    def automtl_metrics(self) -> Path:
        return self.automtl_dir / "final" / METRICS

    @property
    def automtl_model(self) -> Path:
        return self.automtl_dir / "final" / MODEL

    @property
    def automtl_cost(self) -> Path:
        """fvcore FLOPs/params of the derived AutoMTL model."""
        return self.automtl_dir / "final" / "cost.json"

    def learn_to_branch_log_name(self, budget: float | str | None, step: str) -> str:
        """Name of the log and benchmark of one search's ``search`` or ``retrain`` job."""
        return f"baselines/learn_to_branch/{learn_to_branch_name(budget)}/{step}"

    def learn_to_branch_benchmarks(self, budget: float | str | None) -> tuple[Path, Path]:
        """Benchmark files of one Learning to Branch search and its retraining (the seconds each spent)."""
        return (self.benchmark(self.learn_to_branch_log_name(budget, "search")),
                self.benchmark(self.learn_to_branch_log_name(budget, "retrain")))

    @property
    def automtl_benchmarks(self) -> tuple[Path, Path]:
        """Benchmark files of AutoMTL's search (pre-train, policy-train) and post-train."""
        return self.benchmark("baselines/automtl/search"), self.benchmark("baselines/automtl/retrain")

    def searched_table(self, suffix: str) -> Path:
        """The searched baselines beside the recommended trees: ``searched.{md,csv,tex}`` and ``searched.png``."""
        return self.baselines_dir / f"searched.{suffix}"

    # ------------------------------------------------------------------ bookkeeping
    def log(self, name: str) -> Path:
        """Log of a job, e.g. ``log("pairs/{pair}/branch{branch}")`` -> ``logs/pairs/.../branch{branch}.log``."""
        return self.root / "logs" / f"{name}.log"

    def benchmark(self, name: str) -> Path:
        """Time/memory record of a job (``benchmarks/<name>.tsv``)."""
        return self.root / "benchmarks" / f"{name}.tsv"
