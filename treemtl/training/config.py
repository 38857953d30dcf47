"""Experiment configuration: the YAML file, checked against the packaged JSON schema, read into
frozen dataclasses.

``config.schema.yaml`` beside this module is the one definition of the config's keys, types and
defaults; Snakemake validates the workflow's config against the same file. The dataclasses are
the typed view of a validated, defaults-filled config and declare no defaults of their own. What
a schema cannot say is checked here: names that must be registered tasks and datasets
(:mod:`treemtl.training.registry`), and rules that span keys. Every stage of the workflow reads
the same file, so a mistake is reported once, early, with the key path that is wrong
(``config.yaml: train.lr: expected a number > 0, got 'abc'``) rather than as a crash deep inside
training. This module is torch-free so the workflow can import it cheaply.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import yaml

from treemtl.core.branch_interpolation import check_branches, trained_branches
from treemtl.errors import TreeMTLError
from treemtl.plugin import is_spec
from treemtl.training import registry
from treemtl.training.registry import PLUGIN_TYPE, TaskEntry

#: JSON schema of the config (in YAML), shipped in the package so an installed copy has it.
SCHEMA_PATH: Path = Path(__file__).with_name("config.schema.yaml")


@dataclass(frozen=True)
class SyntheticDataConfig:
    """Size of the procedural benchmark (used when ``data.dataset`` is ``synthetic``)."""

    n_train: int
    n_val: int
    size: int
    seed: int


@dataclass(frozen=True)
class AugmentConfig:
    """Random train-split augmentation (treemtl.training.data.augment); the defaults change nothing."""

    scale: tuple[float, ...] | None
    flip: bool
    crop: tuple[int, ...] | None


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to read and where; ``options`` are the keys the dataset declares."""

    dataset: str
    root: str | None
    synthetic: SyntheticDataConfig
    options: dict[str, Any]
    augment: AugmentConfig


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone and how it is cut into ``blocks`` coarse blocks (the branching points)."""

    name: str
    input_size: tuple[int, int, int]
    blocks: int
    add_branch_points: tuple[int, ...]
    remove_branch_points: tuple[int, ...]
    weights: str | None


@dataclass(frozen=True)
class TrainConfig:
    """One recipe for every model of an experiment (singles, pairs, finals), as in the paper."""

    iters: int
    batch_size: int
    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    lr_step: int
    lr_gamma: float
    eval_every: int
    checkpoint_every: int
    early_stop_patience: int
    loss_weights: dict[str, float]
    amp: str
    workers: int
    adam_betas: tuple[float, ...]
    shared_init: bool


@dataclass(frozen=True)
class EvalConfig:
    """How trained models are measured: ``standard`` metrics or ``task_loss`` (treemtl.training.tasks)."""

    protocol: str


@dataclass(frozen=True)
class RecommendConfig:
    """Budgets in backbone models' worth of FLOPs, how many layouts to keep per budget, and the
    space size (layouts) beyond which the recommendation is searched instead of tabulated."""

    budgets: tuple[float, ...]
    top_k: int
    search_above: int


@dataclass(frozen=True)
class EstimatorConfig:
    """How the score weighs tasks: ``svde``, ``equal`` or ``{task: priority}`` (see treemtl.core.weighting)."""

    weights: str | dict[str, float]


@dataclass(frozen=True)
class PairsConfig:
    """How the two-task table is measured (strategy, fraction of iterations, branch subset, repeats)."""

    strategy: str
    fraction: float
    branches: tuple[int, ...] | None
    repeat_seeds_for: str


@dataclass(frozen=True)
class OracleConfig:
    """Ground-truth training of sampled layouts (``sample`` None = every layout)."""

    sample: int | None
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class LearnToBranchConfig:
    """Learning to Branch's search (treemtl.evaluation.baselines.learn_to_branch explains each key)."""

    iters_fraction: float
    children: tuple[int, ...] | None
    tau: float
    tau_decay: str
    warmup_epochs: float
    arch_lr: float
    flops_weight: float
    #: A FLOPs target in backbone models, None (no target) or ``recommend`` (see :func:`learn_to_branch_budgets`).
    budget: float | str | None
    budget_lr: float
    record_every: int


#: ``baselines.learn_to_branch.budget`` asking for one search per ``recommend.budgets`` entry.
PER_RECOMMEND_BUDGET = "recommend"


def learn_to_branch_budgets(setting: float | str | None, recommend_budgets: Sequence[float]) -> tuple[float | None, ...]:
    """The FLOPs target of each Learning to Branch search of an experiment (None: no target).

    ``setting`` is ``baselines.learn_to_branch.budget``: ``recommend`` gives every recommend
    budget, so each recommended tree has a search at its own budget beside it; a number or None
    gives that one search. The workflow runs one search and one retraining per target.
    """
    if setting == PER_RECOMMEND_BUDGET:
        return tuple(float(budget) for budget in recommend_budgets)
    return (None if setting is None else float(setting),)


@dataclass(frozen=True)
class AutoMTLConfig:
    """AutoMTL's pre-train and policy-train (treemtl.evaluation.baselines.automtl explains each key)."""

    warmup_fraction: float
    search_fraction: float
    policy_lr: float
    policy_weight_decay: float
    reg_weight: float
    tau: float
    tau_ratio: float
    tau_every: int
    policy_iters: int
    weight_iters: int
    reference_iters: int
    derive: str
    record_every: int


@dataclass(frozen=True)
class BaselinesConfig:
    """Settings of the baseline methods; each mapping is interpreted by its baseline."""

    what_to_share: dict[str, Any]
    task_grouping: dict[str, Any]
    learn_to_branch: LearnToBranchConfig
    automtl: AutoMTLConfig


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment; outputs go under ``results/<experiment>/``."""

    experiment: str
    tasks: tuple[str, ...]
    seed: int
    #: Extra seeds of the single- and two-task models; the two-task table averages their metrics.
    repeat_seeds: tuple[int, ...]
    data: DataConfig
    backbone: BackboneConfig
    head: str
    train: TrainConfig
    eval: EvalConfig
    recommend: RecommendConfig
    estimator: EstimatorConfig
    pairs: PairsConfig
    oracle: OracleConfig
    baselines: BaselinesConfig
    #: What each of ``tasks`` is, in the same order: built-in, declared by type, or a plugin. Not a
    #: config key of its own: it is read from the ``tasks`` entries and written back into them.
    task_entries: tuple[TaskEntry, ...] = field(metadata={"derived_from": "tasks"})

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-compatible dict (lists, dicts, str, numbers, None) that round-trips
        through :func:`config_from_dict`; safe inside ``torch.load(weights_only=True)`` files."""
        values = _plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "task_entries"})
        values["tasks"] = [entry.to_config() for entry in self.task_entries]
        return values  # type: ignore[no-any-return]

    def task_entry(self, name: str) -> TaskEntry:
        """The entry of task ``name`` of this config (a built-in name not listed is looked up too)."""
        for entry in self.task_entries:
            if entry.name == name:
                return entry
        return registry.task(name)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a YAML experiment config; errors name the file and the key path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TreeMTLError(f"{path}: cannot read config: {error.strerror or error}") from error
    except UnicodeDecodeError:
        raise TreeMTLError(f"{path}: not a YAML config (binary content; expected UTF-8 text)") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise TreeMTLError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from error
    if data is None:
        data = {}
    return config_from_dict(data, source=str(path))


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a parsed config mapping against the schema, filling its defaults for missing keys."""
    if not isinstance(data, Mapping):
        raise TreeMTLError(f"{source}: expected a mapping of config keys, got {type(data).__name__}")
    values = _plain(data)
    fill_defaults(values, config_schema())
    error = jsonschema.exceptions.best_match(_validator().iter_errors(values))
    if error is not None:
        path, message = _explain(error)
        raise TreeMTLError(f"{source}: {_where(path)}: {message}" if path else f"{source}: {message}")
    amp = values["train"]["amp"]
    if isinstance(amp, bool):  # YAML 1.1 reads a bare `off` as false and `on` as true
        values["train"]["amp"] = "auto" if amp else "off"
    if isinstance(values["pairs"]["branches"], str):  # every_other: the points of this backbone
        values["pairs"]["branches"] = list(trained_branches(values["pairs"]["branches"], values["backbone"]["blocks"]))
    entries = _task_entries(values["tasks"], source)
    values["tasks"] = [entry.name for entry in entries]
    values["task_entries"] = [dataclasses.asdict(entry) for entry in entries]
    config = _build(ExperimentConfig, values)
    _check(config, source)
    return config


def _task_entries(items: list[Any], source: str) -> tuple[TaskEntry, ...]:
    """The schema-valid ``tasks`` list as entries: built-in names looked up, declarations checked."""
    entries: list[TaskEntry] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"{source}: tasks[{index}]"
        if isinstance(item, str):
            if item not in registry.task_names():
                raise TreeMTLError(
                    f"{where}: unknown task {item!r} (known tasks: {', '.join(registry.task_names())}); "
                    f"declare your own as {{name: {item}, type: ...}} with a type among {', '.join(registry.task_type_names())}"
                )
            entry = registry.task(item)
        else:
            entry = _declared_task(item, where)
        if entry.name in seen:
            raise TreeMTLError(f"{where}: duplicate task name {entry.name!r} (also tasks[{seen[entry.name]}])")
        seen[entry.name] = index
        entries.append(entry)
    return tuple(entries)


def _declared_task(item: Mapping[str, Any], where: str) -> TaskEntry:
    """A ``{name, type, classes}`` or ``{name, spec}`` mapping as a task entry."""
    name = item["name"]
    if name in registry.task_names():
        raise TreeMTLError(f"{where}.name: {name!r} is a built-in task; list it as the plain name {name!r}")
    if ("type" in item) == ("spec" in item):
        raise TreeMTLError(f"{where}: expected exactly one of 'type' (a task type) or 'spec' (a plugin), got {dict(item)}")
    if "spec" in item:
        if "classes" in item:
            raise TreeMTLError(f"{where}.classes: a plugin task's spec sets its own channels; remove classes")
        return TaskEntry(name, PLUGIN_TYPE, spec=str(item["spec"]))
    kind = item["type"]
    if kind not in registry.task_type_names():
        raise TreeMTLError(f"{where}.type: unknown task type {kind!r}; expected one of {', '.join(registry.task_type_names())}")
    needs = registry.task_type(kind).needs_classes
    if needs and "classes" not in item:
        raise TreeMTLError(f"{where}.classes: required for a {kind} task (an integer >= 2)")
    if not needs and "classes" in item:
        raise TreeMTLError(f"{where}.classes: a {kind} task has no classes; remove it")
    return TaskEntry(name, kind, classes=int(item["classes"]) if needs else None)


# ----------------------------------------------------------------------------------------------
# the schema: defaults, validation, messages


@functools.cache
def config_schema() -> dict[str, Any]:
    """The parsed schema (cached: treat it as read-only)."""
    schema: dict[str, Any] = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(config_schema())


def fill_defaults(instance: Any, schema: Mapping[str, Any]) -> None:
    """Insert the schema's ``default`` of every missing property, recursively into mappings.

    Snakemake's ``validate(config, schema)`` fills the same defaults (a missing section gets
    ``{}`` and then its own defaults), so the workflow and the CLI see the same values.
    """
    if not isinstance(instance, dict):
        return
    for key, subschema in schema.get("properties", {}).items():
        if key not in instance and "default" in subschema:
            instance[key] = copy.deepcopy(subschema["default"])
        if key in instance:
            fill_defaults(instance[key], subschema)


_NOUNS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "boolean": "true or false",
    "null": "null",
}


def _describe(schema: Mapping[str, Any]) -> str:
    """What a (sub)schema accepts, in words: ``a number in (0, 1]``, ``one of adam, sgd``."""
    if "anyOf" in schema:
        return " or ".join(_describe(option) for option in schema["anyOf"])
    if "enum" in schema:
        # amp also accepts YAML's booleans for `off`/`on`; the words are what users write
        return "one of " + ", ".join(str(v) for v in schema["enum"] if not isinstance(v, bool))
    kinds = schema.get("type", [])
    phrases = []
    for kind in [kinds] if isinstance(kinds, str) else kinds:
        phrase = _NOUNS.get(kind, kind)
        if kind in ("integer", "number"):
            phrase += _bounds(schema)
        elif kind == "string" and "pattern" in schema:
            phrase += f" matching {schema['pattern']}"
        elif kind == "string" and schema.get("minLength") == 1:
            phrase = "a non-empty string"
        phrases.append(phrase)
    return " or ".join(phrases) or "a valid value"


def _bounds(schema: Mapping[str, Any]) -> str:
    low = ("[", schema["minimum"]) if "minimum" in schema else ("(", schema.get("exclusiveMinimum"))
    high = ("]", schema["maximum"]) if "maximum" in schema else (")", schema.get("exclusiveMaximum"))
    if low[1] is not None and high[1] is not None:
        return f" in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low[1] is not None:
        return f" {'>=' if low[0] == '[' else '>'} {low[1]}"
    if high[1] is not None:
        return f" {'<=' if high[0] == ']' else '<'} {high[1]}"
    return ""


def _explain(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """A schema violation as (key path, ``expected ..., got ...``)."""
    path = list(error.absolute_path)
    keyword, schema, value = error.validator, error.schema, error.instance
    if "propertyNames" in error.relative_schema_path:
        return [*path, value], f"not a valid key: expected {_describe(schema)}"
    if keyword == "additionalProperties" and schema.get("additionalProperties") is False:
        extra = next(key for key in value if key not in schema.get("properties", {}))
        return [*path, extra], f"unknown key (expected one of: {', '.join(schema.get('properties', {}))})"
    if keyword == "required":
        missing = next(key for key in error.validator_value if key not in value)
        about = schema.get("properties", {}).get(missing, {}).get("description", "")
        return [*path, missing], "required key is missing" + (f" ({about.split('. ')[0]})" if about else "")
    if keyword in ("minItems", "maxItems"):
        count = error.validator_value
        bound = "at least" if keyword == "minItems" else "at most"
        return path, f"expected {bound} {count} {'entry' if count == 1 else 'entries'}, got {value!r}"
    if keyword == "uniqueItems":
        return path, f"expected distinct entries, got {value!r}"
    return path, f"expected {_describe(schema)}, got {value!r}"


def _where(path: list[Any]) -> str:
    """``["train", "loss_weights", "normal"]`` -> ``train.loss_weights.normal``; indices as ``[i]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ----------------------------------------------------------------------------------------------
# the typed view, and the checks that span keys


_Config = TypeVar("_Config")


def _build(cls: type[_Config], values: Mapping[str, Any]) -> _Config:
    """Dataclass ``cls`` from a validated mapping, converting each value to its field's type."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return cls(**{f.name: _convert(hints[f.name], values[f.name]) for f in fields})


def _convert(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # `X | None`, or `str | dict[...]`: the member the value is
        if value is None:
            return None
        members = [a for a in args if a is not type(None)]
        return _convert(next((a for a in members if isinstance(value, typing.get_origin(a) or a)), members[0]), value)
    if origin is tuple:
        return tuple(_convert(args[0], item) for item in value)
    if origin is dict and args[1] is not Any:
        return {str(key): _convert(args[1], item) for key, item in value.items()}
    if hint in (int, float, str):
        return hint(value)  # the schema accepts 2.0 as an integer; the view holds 2
    return copy.deepcopy(value)


def _check(config: ExperimentConfig, source: str) -> None:
    """What the schema cannot express: registered names, per-dataset options, rules across keys."""

    def fail(path: str, message: str) -> TreeMTLError:
        return TreeMTLError(f"{source}: {path}: {message}")

    plugin_dataset = is_spec(config.data.dataset)
    if config.data.dataset not in registry.dataset_names() and not plugin_dataset:
        raise fail(
            "data.dataset",
            f"unknown dataset {config.data.dataset!r} (known datasets: {', '.join(registry.dataset_names())}; "
            "or a plugin 'package.module:callable')",
        )
    data = registry.dataset(config.data.dataset)
    for index, entry in enumerate(config.task_entries):
        if not data.provides(entry.name):
            declared = "" if entry.name in registry.task_names() else (
                "; tasks declared by type or plugin need data.dataset: folder or a dataset plugin")
            raise fail(f"tasks[{index}]", f"task {entry.name!r} is not provided by dataset {data.name} "
                                          f"(it provides {', '.join(data.tasks)}){declared}")
    for key in config.data.options:
        if key not in data.options and not plugin_dataset:
            known_options = f"known options: {', '.join(data.options)}" if data.options else "it takes no options"
            raise fail(f"data.options.{key}", f"unknown option of dataset {data.name} ({known_options})")
    known = (*registry.task_names(), *(name for name in config.tasks if name not in registry.task_names()))
    for name in config.train.loss_weights:
        if name not in known:
            raise fail(f"train.loss_weights.{name}", f"unknown task (known tasks: {', '.join(known)})")
        if name not in config.tasks:
            raise fail(f"train.loss_weights.{name}", f"task is not in tasks {list(config.tasks)}")
    if config.seed in config.repeat_seeds:
        raise fail("repeat_seeds", f"expected seeds other than seed ({config.seed}), got {list(config.repeat_seeds)}")
    for point in config.backbone.remove_branch_points:
        if point >= config.backbone.blocks:
            raise fail(
                "backbone.remove_branch_points",
                f"expected coarse boundaries between 1 and blocks-1 = {config.backbone.blocks - 1}, "
                f"got {list(config.backbone.remove_branch_points)}",
            )
    if isinstance(config.estimator.weights, dict):
        from treemtl.core.weighting import parse_weighting

        try:
            parse_weighting(config.estimator.weights, "priorities").normalised(config.tasks)
        except TreeMTLError as error:
            raise fail("estimator.weights", str(error)) from None
    if config.pairs.branches is not None:
        try:
            check_branches(config.pairs.branches, config.backbone.blocks, "pairs.branches")
        except TreeMTLError as error:
            raise TreeMTLError(f"{source}: {error}") from None
    labels: dict[str, float] = {}
    for budget in config.recommend.budgets:
        label = f"{budget:g}"  # the workflow's name of the budget (recommend/<label>.csv)
        if label in labels:
            raise fail(
                "recommend.budgets",
                f"{labels[label]!r} and {budget!r} are the same budget {label} to the workflow; "
                "expected budgets that differ within 6 significant digits",
            )
        labels[label] = budget


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that reads ``1e-3`` as a number (YAML 1.1 wants a dot: ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _plain(value: Any) -> Any:
    """Dataclasses/tuples -> dicts/lists, recursively (for YAML, JSON and safe torch files)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
