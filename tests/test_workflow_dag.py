"""The Snakemake DAG of every shipped config, schema errors, ``snakemake --lint``, shell quoting.

Dry runs only (no training): they check the wiring — T single-task models, C(T,2)·B two-task
models, one recommendation per budget — before the checkpoint decides the final trainings.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
import yaml

from treemtl.results_tree import ResultsTree
from workflow_helpers import REPO, dry_run, expected_job_counts, job_counts, snakemake

CONFIGS = sorted((REPO / "config").glob("*.yaml"))


def test_every_config_is_shipped() -> None:
    names = {path.stem for path in CONFIGS}
    assert {"config", "synthetic5", "synthetic8", "nyuv2_resnet34", "nyuv2_mobilenetv2", "taskonomy_resnet34",
            "taskonomy_mobilenetv2"} <= names


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda p: p.stem)
def test_dry_run_job_counts(config_path: Path, tmp_path: Path) -> None:
    config = yaml.safe_load(config_path.read_text())
    configfile = tmp_path / config_path.name
    shutil.copy(config_path, configfile)
    counts = dry_run(tmp_path, configfile)
    # the train_final jobs appear once the recommend checkpoint has run
    assert counts == expected_job_counts(config)
    resolved = yaml.safe_load(_resolved_config(tmp_path, config["experiment"]).read_text())
    assert resolved["tasks"] == config["tasks"] and resolved["train"]["iters"] == config["train"]["iters"]


@pytest.mark.parametrize("search_above", [50, 51])
def test_a_searched_space_writes_no_performance_table(search_above: int, tmp_path: Path) -> None:
    """More layouts than recommend.search_above (3 tasks, 5 blocks: 51): each budget's picks and the
    report's landscape are searched; no layouts.csv or performance table. At the threshold: the table."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["recommend"]["search_above"] = search_above
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--dry-run", "--printshellcmds")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    counts = job_counts(output)
    budgets = len(config["recommend"]["budgets"])
    assert counts["recommend"] == budgets and counts["report"] == 1
    if search_above == 50:
        assert "enumerate_layouts" not in counts and "performance_table" not in counts
        assert counts["score_landscape"] == 1
        assert output.count("treemtl recommend --method search --table ") == budgets
        assert "layouts.csv" not in output and "performance_table" not in output
    else:
        assert counts["enumerate_layouts"] == counts["performance_table"] == 1 and "score_landscape" not in counts
        assert output.count("treemtl recommend --performance-table ") == budgets


def _resolved_configs(workdir: Path, experiment: str) -> list[Path]:
    return sorted((workdir / ResultsTree.of_experiment(experiment).resolved_config("x").parent).iterdir())


def _resolved_config(workdir: Path, experiment: str) -> Path:
    """The one resolved config a single invocation wrote (what its jobs' ``--config`` reads)."""
    (path,) = _resolved_configs(workdir, experiment)
    return path


def test_config_override_on_the_command_line(tmp_path: Path) -> None:
    configfile = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", configfile)
    dry_run(tmp_path, configfile, "--config", "experiment=override", "seed=7")
    resolved = yaml.safe_load(_resolved_config(tmp_path, "override").read_text())
    assert resolved["seed"] == 7  # what every job's `treemtl --config` reads


def test_another_invocation_never_changes_the_config_of_this_one(tmp_path: Path) -> None:
    """Invocation A's resolved config survives a dry run of invocation B with another lr, unchanged."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    configfile = tmp_path / "a.yaml"
    configfile.write_text(yaml.safe_dump(config))
    dry_run(tmp_path, configfile)
    mine = _resolved_config(tmp_path, config["experiment"])
    before = (mine.read_bytes(), mine.stat().st_mtime_ns)
    other = tmp_path / "b.yaml"
    other.write_text(yaml.safe_dump({**config, "train": {**config["train"], "lr": 0.05}}))
    done = snakemake(tmp_path, "--configfile", str(other), "--dry-run", "--printshellcmds")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (mine.read_bytes(), mine.stat().st_mtime_ns) == before
    (theirs,) = set(_resolved_configs(tmp_path, config["experiment"])) - {mine}
    assert yaml.safe_load(theirs.read_text())["train"]["lr"] == 0.05
    assert f"--config {theirs.relative_to(tmp_path)} " in done.stdout  # B's jobs would read B's file
    assert not (tmp_path / ResultsTree.of_experiment(config["experiment"]).config_copy).exists()  # jobs write it


def _error_of(tmp_path: Path, config: dict) -> str:
    configfile = tmp_path / "bad.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--dry-run")
    assert done.returncode != 0
    return done.stdout + done.stderr


def test_unknown_key_is_named(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["train"]["learning_rate"] = 0.1
    message = _error_of(tmp_path, config)
    assert "learning_rate" in message and "Additional properties are not allowed" in message


def test_wrong_type_is_named(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["recommend"]["top_k"] = "three"
    message = _error_of(tmp_path, config)
    assert "'three' is not of type 'integer'" in message and "top_k" in message


def test_unknown_task_is_named(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["tasks"] = ["segment_semantic", "depth"]
    # task names come from the registry, checked by treemtl.training.config before any job
    assert "tasks[1]: unknown task 'depth' (known tasks: segment_semantic, " in _error_of(tmp_path, config)


def test_lint_passes(tmp_path: Path) -> None:
    configfile = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", configfile)
    done = snakemake(tmp_path, "--configfile", str(configfile), "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Lints for" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_error_found_by_treemtl_config_stops_the_run(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["train"]["loss_weights"] = {"keypoints2d": 2.0}  # a valid task, but not one of `tasks`
    message = _error_of(tmp_path, config)
    assert "train.loss_weights.keypoints2d: task is not in tasks" in message


@pytest.mark.parametrize("profile", ["gpu", "slurm"])
def test_profiles_give_each_training_one_gpu(profile: str, tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["repeat_seeds"] = [1]
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--profile",
                     str(REPO / "workflow" / "profiles" / profile), "--dry-run")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert output.count("treemtl gpu-slot --gpus 1 -- treemtl train") == 2 * (3 + 15)  # main runs and repeats
    assert "treemtl gpu-slot --gpus 0" not in output
    if profile == "slurm":
        assert output.count("gpu=1, cpus_per_gpu=8") == 2 * (3 + 15)


@pytest.mark.parametrize("profile", ["gpu", "slurm"])
def test_profiles_give_each_searched_baseline_job_one_gpu(profile: str, tmp_path: Path) -> None:
    """Learning to Branch and AutoMTL search and retrain like every training: one GPU each."""
    configfile = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", configfile)
    done = snakemake(tmp_path, "--configfile", str(configfile), "--profile",
                     str(REPO / "workflow" / "profiles" / profile), "--dry-run", "baselines")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for command in ("learn-to-branch", "learn-to-branch-retrain", "automtl", "automtl-retrain"):
        assert output.count(f"treemtl gpu-slot --gpus 1 -- treemtl baselines {command} ") == 1, command
    assert "treemtl gpu-slot --gpus 0" not in output
    if profile == "slurm":
        assert output.count("gpu=1, cpus_per_gpu=8") == 3 + 15 + 4  # singles, pairs, searches and retrainings


@pytest.mark.parametrize("profile", ["gpu", "slurm"])
def test_profiles_give_each_learn_to_branch_budget_one_gpu(profile: str, tmp_path: Path) -> None:
    """``baselines.learn_to_branch.budget: recommend``: every budget's search and retraining holds one GPU."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.setdefault("baselines", {}).setdefault("learn_to_branch", {})["budget"] = "recommend"
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--profile",
                     str(REPO / "workflow" / "profiles" / profile), "--dry-run", "searched_baselines")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    budgets = len(config["recommend"]["budgets"])
    for command, count in (("learn-to-branch", budgets), ("learn-to-branch-retrain", budgets), ("automtl", 1)):
        assert output.count(f"treemtl gpu-slot --gpus 1 -- treemtl baselines {command} ") == count, command
    assert "treemtl gpu-slot --gpus 0" not in output
    if profile == "slurm":
        assert output.count("gpu=1, cpus_per_gpu=8") == 3 + 15 + 2 * budgets + 2


#: Placeholders that are never a config string or a path: the job's thread count and GPU count.
UNQUOTED_ALLOWED = {"threads", "resources.gpu"}


def shell_commands() -> list[tuple[str, str]]:
    """``(rule name, shell string)`` of every rule in the Snakefile and workflow/rules/*.smk."""
    commands: list[tuple[str, str]] = []
    for source in [REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        lines = source.read_text().splitlines()
        rule = None
        for number, line in enumerate(lines):
            if found := re.match(r"\s*(?:rule|checkpoint) (\w+):", line):
                rule = found.group(1)
            elif line.strip() == "shell:":
                body = []
                for text in lines[number + 1:]:
                    if not text.strip().startswith('"'):
                        break
                    body.append(ast.literal_eval(text.strip()))
                commands.append((f"{source.name}:{rule}", "".join(body)))
    return commands


def test_every_placeholder_in_a_shell_command_is_quoted() -> None:
    commands = shell_commands()
    rules = {name.split(":")[1] for name, _ in commands}
    assert {"data", "train_single", "two_task_table", "recommend", "report", "train_oracle"} <= rules
    assert all(command for _, command in commands)  # every shell block was read
    for rule, command in commands:
        for field in re.findall(r"(?<!{){([^{}]+)}(?!})", command):
            name, _, spec = field.partition(":")
            assert spec == "q" or (not spec and name in UNQUOTED_ALLOWED), f"rule {rule}: {{{field}}} is not quoted"


def test_data_root_is_one_shell_word(tmp_path: Path) -> None:
    """A data.root with a space and with ``;touch X;`` is a folder name, never shell syntax."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    pwned = tmp_path / "pwned"
    root = tmp_path / "my data" / f"x;touch {pwned};echo"
    config["data"] = {"dataset": "synthetic", "root": str(root),
                      "synthetic": {"n_train": 4, "n_val": 2, "size": 16, "seed": 0}}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = snakemake(tmp_path, "--configfile", str(configfile), "--cores", "1", "data")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not pwned.exists()
    assert (root / "manifest.json").is_file()
