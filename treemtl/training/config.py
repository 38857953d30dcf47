"""Experiment configuration: frozen dataclasses mirroring the YAML file, validated on load.

Every stage of the workflow reads the same file, so a mistake must be reported once, early,
with the key path that is wrong (``config.yaml: train.lr: expected a positive number, got 'abc'``)
rather than surfacing as a crash deep inside training. This module is torch-free so the
recommender core and the workflow can import it cheaply.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from treemtl.errors import TreeMTLError

#: Task names understood by the data, model and training code (contract order).
KNOWN_TASKS: tuple[str, ...] = ("segment_semantic", "depth_zbuffer", "normal", "keypoints2d", "edge_texture")
DATASETS: tuple[str, ...] = ("synthetic", "nyuv2", "nyuv2_mtan", "taskonomy")
HEADS: tuple[str, ...] = ("light", "aspp")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
AMP_MODES: tuple[str, ...] = ("auto", "off")


@dataclass(frozen=True)
class SyntheticDataConfig:
    """Size of the procedural benchmark (used when ``data.dataset`` is ``synthetic``)."""

    n_train: int = 1200
    n_val: int = 300
    size: int = 64
    seed: int = 0


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to read and where; ``options`` is dataset-specific and passed through."""

    dataset: str = "synthetic"
    root: str | None = None
    synthetic: SyntheticDataConfig = field(default_factory=SyntheticDataConfig)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone and how it is cut into ``blocks`` coarse blocks (the branching points)."""

    name: str = "small_cnn"
    input_size: tuple[int, int, int] = (3, 64, 64)
    blocks: int = 5
    add_branch_points: tuple[int, ...] = ()
    remove_branch_points: tuple[int, ...] = ()
    weights: str | None = None


@dataclass(frozen=True)
class TrainConfig:
    """One recipe for every model of an experiment (singles, pairs, finals), as in the paper."""

    iters: int = 400
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_step: int = 150
    lr_gamma: float = 0.5
    eval_every: int = 100
    checkpoint_every: int = 100
    early_stop_patience: int = 0
    loss_weights: dict[str, float] = field(default_factory=dict)
    amp: str = "auto"
    workers: int = 0


@dataclass(frozen=True)
class RecommendConfig:
    """Budgets in backbone models' worth of FLOPs, and how many layouts to keep per budget."""

    budgets: tuple[float, ...] = (1.0, 1.5, 2.0)
    top_k: int = 3


@dataclass(frozen=True)
class OracleConfig:
    """Ground-truth training of sampled layouts (``sample`` None = every layout)."""

    sample: int | None = None
    seeds: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class BaselinesConfig:
    """Settings of the baseline methods; each mapping is interpreted by its baseline."""

    what_to_share: dict[str, Any] = field(default_factory=lambda: {"images": 64})
    task_grouping: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment; outputs go under ``results/<experiment>/``."""

    experiment: str = "synthetic3"
    tasks: tuple[str, ...] = ("segment_semantic", "depth_zbuffer", "normal")
    seed: int = 0
    #: Extra seeds of the single- and two-task models; the two-task table averages their metrics.
    repeat_seeds: tuple[int, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: str = "light"
    train: TrainConfig = field(default_factory=TrainConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    oracle: OracleConfig = field(default_factory=OracleConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-compatible dict (lists, dicts, str, numbers, None) that round-trips
        through :func:`config_from_dict`; safe inside ``torch.load(weights_only=True)`` files."""
        return _plain(self)


#: Paper hyper-parameters (App. G, Table 7): lr, decay factor every ``lr_step`` iters, total iters.
PAPER_TRAIN_SETTINGS: dict[str, dict[str, float | int]] = {
    "nyuv2": {"lr": 0.001, "lr_gamma": 0.5, "lr_step": 4000, "iters": 20000},
    "taskonomy": {"lr": 0.0001, "lr_gamma": 0.3, "lr_step": 10000, "iters": 50000},
}


def paper_train_defaults(dataset: str) -> TrainConfig:
    """The training recipe the paper used for ``dataset`` (``nyuv2``/``nyuv2_mtan``/``taskonomy``)."""
    key = "nyuv2" if dataset.startswith("nyuv2") else dataset
    if key not in PAPER_TRAIN_SETTINGS:
        raise TreeMTLError(f"no paper training settings for dataset {dataset!r}; expected one of nyuv2, nyuv2_mtan, taskonomy")
    settings = PAPER_TRAIN_SETTINGS[key]
    iters = int(settings["iters"])
    every = max(1, iters // 20)
    return dataclasses.replace(
        TrainConfig(),
        lr=float(settings["lr"]),
        lr_gamma=float(settings["lr_gamma"]),
        lr_step=int(settings["lr_step"]),
        iters=iters,
        eval_every=every,
        checkpoint_every=every,
    )


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config; errors name the file and the key path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TreeMTLError(f"{path}: cannot read config: {error.strerror or error}") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TreeMTLError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from error
    if data is None:
        data = {}
    return config_from_dict(data, source=str(path))


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a parsed config mapping, filling defaults for missing keys."""
    return _Reader(source).experiment(data)


# ----------------------------------------------------------------------------------------------
# validation


class _Reader:
    """Converts raw YAML values into dataclasses, raising errors that carry the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, expected: str, value: Any = dataclasses.MISSING) -> TreeMTLError:
        got = "" if value is dataclasses.MISSING else f", got {value!r}"
        where = f"{path}: " if path else ""
        return TreeMTLError(f"{self.source}: {where}{expected}{got}")

    # -- structure ------------------------------------------------------------------------

    def section(self, path: str, value: Any, cls: type, readers: Mapping[str, Callable[[str, Any], Any]]) -> Any:
        """Build ``cls`` from a mapping, reading each present key with its reader."""
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(path, "expected a mapping", value)
        for key in value:
            if key not in readers:
                keys = ", ".join(readers)
                raise self.fail(_join(path, str(key)), f"unknown key (expected one of: {keys})")
        kwargs = {key: reader(_join(path, key), value[key]) for key, reader in readers.items() if key in value}
        return cls(**kwargs)

    def experiment(self, data: Any) -> ExperimentConfig:
        config = self.section(
            "",
            data,
            ExperimentConfig,
            {
                "experiment": self.name,
                "tasks": self.tasks,
                "seed": self.nonneg_int,
                "repeat_seeds": self.repeat_seeds,
                "data": self.data,
                "backbone": self.backbone,
                "head": self.choice(HEADS),
                "train": self.train,
                "recommend": self.recommend,
                "oracle": self.oracle,
                "baselines": self.baselines,
            },
        )
        if config.seed in config.repeat_seeds:
            raise self.fail("repeat_seeds", f"expected seeds other than seed ({config.seed})", list(config.repeat_seeds))
        for task in config.train.loss_weights:
            if task not in config.tasks:
                raise self.fail(f"train.loss_weights.{task}", f"task is not in tasks {list(config.tasks)}")
        return config

    def data(self, path: str, value: Any) -> DataConfig:
        return self.section(
            path,
            value,
            DataConfig,
            {
                "dataset": self.choice(DATASETS),
                "root": self.optional(self.string),
                "synthetic": self.synthetic,
                "options": self.mapping,
            },
        )

    def synthetic(self, path: str, value: Any) -> SyntheticDataConfig:
        return self.section(
            path,
            value,
            SyntheticDataConfig,
            {"n_train": self.pos_int, "n_val": self.pos_int, "size": self.size, "seed": self.nonneg_int},
        )

    def backbone(self, path: str, value: Any) -> BackboneConfig:
        config: BackboneConfig = self.section(
            path,
            value,
            BackboneConfig,
            {
                "name": self.string,
                "input_size": self.input_size,
                "blocks": self.pos_int,
                "add_branch_points": self.int_list(minimum=0),
                "remove_branch_points": self.int_list(minimum=1),
                "weights": self.optional(self.string),
            },
        )
        for point in config.remove_branch_points:
            if point >= config.blocks:
                raise self.fail(
                    _join(path, "remove_branch_points"),
                    f"expected coarse boundaries between 1 and blocks-1 = {config.blocks - 1}",
                    list(config.remove_branch_points),
                )
        return config

    def train(self, path: str, value: Any) -> TrainConfig:
        return self.section(
            path,
            value,
            TrainConfig,
            {
                "iters": self.pos_int,
                "batch_size": self.pos_int,
                "optimizer": self.choice(OPTIMIZERS),
                "lr": self.pos_float,
                "momentum": self.unit_float,
                "weight_decay": self.nonneg_float,
                "lr_step": self.pos_int,
                "lr_gamma": self.gamma,
                "eval_every": self.pos_int,
                "checkpoint_every": self.pos_int,
                "early_stop_patience": self.nonneg_int,
                "loss_weights": self.loss_weights,
                "amp": self.amp,
                "workers": self.nonneg_int,
            },
        )

    def recommend(self, path: str, value: Any) -> RecommendConfig:
        return self.section(path, value, RecommendConfig, {"budgets": self.budgets, "top_k": self.pos_int})

    def oracle(self, path: str, value: Any) -> OracleConfig:
        return self.section(
            path, value, OracleConfig, {"sample": self.optional(self.pos_int), "seeds": self.seeds}
        )

    def baselines(self, path: str, value: Any) -> BaselinesConfig:
        return self.section(
            path, value, BaselinesConfig, {"what_to_share": self.mapping, "task_grouping": self.mapping}
        )

    # -- scalars ------------------------------------------------------------------------

    def optional(self, reader: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
        return lambda path, value: None if value is None else reader(path, value)

    def string(self, path: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, "expected a non-empty string", value)
        return value

    def name(self, path: str, value: Any) -> str:
        text = self.string(path, value)
        if "/" in text or "\\" in text or text in {".", ".."} or any(c.isspace() for c in text):
            raise self.fail(path, "expected a folder name (no slashes or spaces)", value)
        return text

    def choice(self, options: tuple[str, ...]) -> Callable[[str, Any], str]:
        def read(path: str, value: Any) -> str:
            if not isinstance(value, str) or value not in options:
                raise self.fail(path, f"expected one of {', '.join(options)}", value)
            return value

        return read

    def amp(self, path: str, value: Any) -> str:
        # YAML 1.1 reads a bare `off` as False and `on` as True.
        if value is False:
            return "off"
        if value is True:
            return "auto"
        return self.choice(AMP_MODES)(path, value)

    def integer(self, path: str, value: Any, minimum: int, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise self.fail(path, f"expected {what}", value)
        if value < minimum:
            raise self.fail(path, f"expected {what}", value)
        return int(value)

    def pos_int(self, path: str, value: Any) -> int:
        return self.integer(path, value, 1, "a positive integer")

    def nonneg_int(self, path: str, value: Any) -> int:
        return self.integer(path, value, 0, "a non-negative integer")

    def size(self, path: str, value: Any) -> int:
        return self.integer(path, value, 8, "an integer image size >= 8")

    def number(self, path: str, value: Any, what: str, ok: Callable[[float], bool]) -> float:
        result: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            result = float(value)
        elif isinstance(value, str):
            # PyYAML reads `1e-3` (no dot) as a string; accept any numeric spelling.
            try:
                result = float(value)
            except ValueError:
                result = None
        if result is None or not math.isfinite(result) or not ok(result):
            raise self.fail(path, f"expected {what}", value)
        return result

    def pos_float(self, path: str, value: Any) -> float:
        return self.number(path, value, "a positive number", lambda x: x > 0)

    def nonneg_float(self, path: str, value: Any) -> float:
        return self.number(path, value, "a non-negative number", lambda x: x >= 0)

    def unit_float(self, path: str, value: Any) -> float:
        return self.number(path, value, "a number in [0, 1)", lambda x: 0 <= x < 1)

    def gamma(self, path: str, value: Any) -> float:
        return self.number(path, value, "a number in (0, 1]", lambda x: 0 < x <= 1)

    # -- collections ---------------------------------------------------------------------

    def sequence(self, path: str, value: Any) -> list[Any]:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise self.fail(path, "expected a list", value)
        return list(value)

    def mapping(self, path: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(path, "expected a mapping", value)
        return copy.deepcopy(dict(value))

    def tasks(self, path: str, value: Any) -> tuple[str, ...]:
        items = self.sequence(path, value)
        if not items:
            raise self.fail(path, "expected at least one task")
        seen: set[str] = set()
        for index, task in enumerate(items):
            if not isinstance(task, str) or task not in KNOWN_TASKS:
                raise self.fail(f"{path}[{index}]", f"expected a task name ({', '.join(KNOWN_TASKS)})", task)
            if task in seen:
                raise self.fail(f"{path}[{index}]", "duplicate task", task)
            seen.add(task)
        return tuple(items)

    def int_list(self, minimum: int) -> Callable[[str, Any], tuple[int, ...]]:
        def read(path: str, value: Any) -> tuple[int, ...]:
            what = "a positive integer" if minimum >= 1 else "a non-negative integer"
            items = [self.integer(f"{path}[{i}]", v, minimum, what) for i, v in enumerate(self.sequence(path, value))]
            if len(set(items)) != len(items):
                raise self.fail(path, "expected distinct values", items)
            return tuple(sorted(items))

        return read

    def input_size(self, path: str, value: Any) -> tuple[int, int, int]:
        items = self.sequence(path, value)
        if len(items) != 3:
            raise self.fail(path, "expected [channels, height, width]", value)
        return tuple(self.pos_int(f"{path}[{i}]", v) for i, v in enumerate(items))  # type: ignore[return-value]

    def budgets(self, path: str, value: Any) -> tuple[float, ...]:
        items = self.sequence(path, value)
        if not items:
            raise self.fail(path, "expected at least one budget")
        return tuple(self.pos_float(f"{path}[{i}]", v) for i, v in enumerate(items))

    def seeds(self, path: str, value: Any) -> tuple[int, ...]:
        items = self.sequence(path, value)
        if not items:
            raise self.fail(path, "expected at least one seed")
        seeds = tuple(self.nonneg_int(f"{path}[{i}]", v) for i, v in enumerate(items))
        if len(set(seeds)) != len(seeds):
            raise self.fail(path, "expected distinct seeds", list(seeds))
        return seeds

    def repeat_seeds(self, path: str, value: Any) -> tuple[int, ...]:
        return self.seeds(path, value) if self.sequence(path, value) else ()

    def loss_weights(self, path: str, value: Any) -> dict[str, float]:
        raw = self.mapping(path, value)
        weights: dict[str, float] = {}
        for task, weight in raw.items():
            if task not in KNOWN_TASKS:
                raise self.fail(f"{path}.{task}", f"unknown task (expected one of {', '.join(KNOWN_TASKS)})")
            weights[task] = self.nonneg_float(f"{path}.{task}", weight)
        return weights


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _plain(value: Any) -> Any:
    """Dataclasses/tuples -> dicts/lists, recursively (for YAML, JSON and safe torch files)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
