"""Every user-caused CLI failure is one line on stderr, exit 2, no traceback, nothing half-written.

Cases run through :func:`treemtl.cli.main` in-process. File-system failures on outputs are real
where the machine allows it (``--out`` a folder, under a regular file, in /proc) and simulated
where it does not (a full disk, a permission denied to root).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from treemtl.cli import main

TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "two_task_tables" / "nyuv2_deeplab_resnet34.csv"
TRAIN_TASKS = "segment_semantic,normal"
FACTORY_MODULE = "treemtl_test_failing_backbone"


@dataclass(frozen=True)
class Fixtures:
    """What the commands under test read: a tiny dataset, its config, a trained checkpoint."""

    root: Path
    config: Path
    checkpoint: Path


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixtures]:
    from treemtl.training.data.synthetic import SynthSpec, write_dataset

    root = tmp_path_factory.mktemp("inputs")
    write_dataset(root / "data", SynthSpec(n_train=16, n_val=8, size=32, seed=0), workers=1, contact_sheet=False)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({
        "experiment": "tiny",
        "tasks": ["segment_semantic", "depth_zbuffer", "normal"],
        "data": {"dataset": "synthetic", "root": str(root / "data"), "synthetic": {"n_train": 16, "n_val": 8, "size": 32}},
        "backbone": {"name": "small_cnn", "input_size": [3, 32, 32], "blocks": 5},
        "train": {"iters": 2, "batch_size": 8, "lr": 0.005, "lr_step": 2, "eval_every": 2, "checkpoint_every": 2},
    }))
    (root / FACTORY_MODULE).mkdir()
    (root / FACTORY_MODULE / "__init__.py").write_text(
        "def factory():\n    raise RuntimeError('weights server unreachable')\n"
    )
    factory_config = yaml.safe_load(config.read_text())
    factory_config["backbone"]["name"] = f"{FACTORY_MODULE}:factory"
    (root / "factory.yaml").write_text(yaml.safe_dump(factory_config))
    (root / "garbage.yaml").write_bytes(bytes(range(256)) * 8)
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02" + bytes(64))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        code = main(["train", "--config", str(config), "--tasks", TRAIN_TASKS, "--layout", "id:3",
                     "--out", str(root / "run"), "--threads", "1", "--device", "cpu"])
        assert code == 0
        yield Fixtures(root, config, root / "run" / "model.pt")


# --------------------------------------------------------------------------- output failures
#: Command line of each writing command for an output OUT; the flag after which OUT comes is --out.
WRITERS: dict[str, Callable[[Fixtures, str], list[str]]] = {
    "enumerate": lambda f, out: ["enumerate", "--tasks", "3", "--blocks", "2", "--out", out],
    "weights": lambda f, out: ["weights", "--table", str(TABLE), "--out", out],
    "performance-table": lambda f, out: ["performance-table", "--table", str(TABLE), "--blocks", "5", "--out", out],
    "detect": lambda f, out: ["detect", "--input-size", "3,32,32", "--out", out],
    "evaluate": lambda f, out: ["evaluate", "--checkpoint", str(f.checkpoint), "--out", out, "--device", "cpu", "--threads", "1"],
    "train": lambda f, out: ["train", "--config", str(f.config), "--tasks", TRAIN_TASKS, "--layout", "id:3",
                             "--out", out, "--threads", "1", "--device", "cpu"],
    "data-synth": lambda f, out: ["data", "synth", "--out", out, "--n", "4", "--n-val", "2", "--size", "16",
                                  "--workers", "1", "--no-sheet"],
}
#: Commands whose --out is a folder (the others write one file).
FOLDER_OUTPUTS = {"train": ("metrics.json", "model.pt"), "data-synth": ("manifest.json",)}
FAILURES = ("wrong-kind", "under-a-file", "in-proc", "disk-full", "permission-denied")


def _deny(patch: pytest.MonkeyPatch, folder: Path, error: int) -> None:
    """Make every write, file creation and mkdir under ``folder`` fail with ``error``."""
    prefix = str(folder)

    def blocked(path: object) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.fspath(path).startswith(prefix)

    def fail(path: object) -> OSError:
        return OSError(error, os.strerror(error), os.fspath(path))  # type: ignore[arg-type]

    real_open, real_os_open, real_mkdir = builtins.open, os.open, os.mkdir

    def guarded_open(file, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        if blocked(file) and any(c in mode for c in "wax+"):
            raise fail(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if blocked(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise fail(path)
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if blocked(path):
            raise fail(path)
        return real_mkdir(path, *args, **kwargs)

    patch.setattr(builtins, "open", guarded_open)
    patch.setattr(io, "open", guarded_open)
    patch.setattr(os, "open", guarded_os_open)
    patch.setattr(os, "mkdir", guarded_mkdir)


def _full_disk(patch: pytest.MonkeyPatch) -> None:
    """Every flush of written bytes to disk reports ENOSPC, as on a full filesystem."""

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    patch.setattr(os, "fsync", no_space)


def _output(failure: str, command: str, tmp_path: Path, patch: pytest.MonkeyPatch) -> Path:
    """The --out path for ``failure`` (setting up whatever makes writing it fail)."""
    folder_output = command in FOLDER_OUTPUTS
    name = "out" if folder_output else "out.file"
    if failure == "wrong-kind":
        out = tmp_path / name
        if folder_output:
            out.write_text("a regular file, not a folder\n")
        else:
            out.mkdir()
        return out
    if failure == "under-a-file":
        (tmp_path / "plain.txt").write_text("a regular file\n")
        return tmp_path / "plain.txt" / name
    if failure == "in-proc":
        return Path("/proc") / f"treemtl-test-{os.getpid()}" / name
    if failure == "disk-full":
        _full_disk(patch)
        return tmp_path / "results" / name
    if failure == "permission-denied":
        (tmp_path / "locked").mkdir()
        _deny(patch, tmp_path / "locked", errno.EACCES)
        return tmp_path / "locked" / name
    raise AssertionError(failure)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | None, str]:
    """Exit code and stderr of one in-process run; an escaping exception counts as a traceback."""
    escaped = ""
    try:
        code: int | None = main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - any escape is the failure under test
        code, escaped = None, traceback.format_exc()
    return code, capsys.readouterr().err + escaped


def _assert_one_line_error(code: int | None, err: str) -> None:
    assert "Traceback" not in err, err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), err
    assert lines[0].startswith("treemtl"), err


def _leftovers(folder: Path) -> list[Path]:
    """Temporary files or folders of an interrupted atomic write."""
    return [p for p in folder.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]


OUTPUT_CASES = [(command, failure) for command in WRITERS for failure in FAILURES]


@pytest.mark.parametrize(("command", "failure"), OUTPUT_CASES, ids=[f"{c}-{f}" for c, f in OUTPUT_CASES])
def test_output_failure_is_one_line(
    command: str, failure: str, fixtures: Fixtures, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    argv = WRITERS[command](fixtures, "")
    with monkeypatch.context() as patch:
        out = _output(failure, command, work, patch)
        argv[argv.index("--out") + 1] = str(out)
        code, err = _run(argv, capsys)
    _assert_one_line_error(code, err)
    assert str(out) in err or str(out.parent) in err or "plain.txt" in err, err
    assert _leftovers(work) == [] and _leftovers(fixtures.root) == []
    if command in FOLDER_OUTPUTS:
        assert not any((out / name).exists() for name in FOLDER_OUTPUTS[command] if out.is_dir())
    elif failure != "wrong-kind":
        assert not out.exists()


# --------------------------------------------------------------------------- other user errors
def _recommend(budget: str) -> Callable[[Fixtures], list[str]]:
    return lambda f: ["recommend", "--table", str(TABLE), "--blocks", "5", f"--budget={budget}"]


OTHER_CASES: dict[str, Callable[[Fixtures], list[str]]] = {
    "recommend-budget-1e400": _recommend("1e400"),
    "recommend-budget-1e400flops": _recommend("1e400flops"),
    "recommend-budget-nan": _recommend("nan"),
    "recommend-budget-inf": _recommend("inf"),
    "recommend-budget-negative": _recommend("-1"),
    "train-seed-negative": lambda f: ["train", "--config", str(f.config), "--tasks", TRAIN_TASKS, "--layout", "id:3",
                                      "--out", str(f.root / "seed"), "--seed", "-1", "--device", "cpu"],
    "train-seed-2**32": lambda f: ["train", "--config", str(f.config), "--tasks", TRAIN_TASKS, "--layout", "id:3",
                                   "--out", str(f.root / "seed"), "--seed", str(2**32), "--device", "cpu"],
    "data-synth-seed-negative": lambda f: ["data", "synth", "--out", str(f.root / "seed"), "--n", "2", "--n-val", "1",
                                           "--size", "16", "--workers", "1", "--no-sheet", "--seed", "-1"],
    "data-synth-seed-2**32": lambda f: ["data", "synth", "--out", str(f.root / "seed"), "--n", "2", "--n-val", "1",
                                        "--size", "16", "--workers", "1", "--no-sheet", "--seed", str(2**32)],
    "train-config-garbage": lambda f: ["train", "--config", str(f.root / "garbage.yaml"), "--tasks", TRAIN_TASKS,
                                       "--layout", "id:3", "--out", str(f.root / "garbage")],
    "detect-config-png": lambda f: ["detect", "--config", str(f.root / "image.png")],
    "data-check-config-png": lambda f: ["data", "check", "--config", str(f.root / "image.png"),
                                        "--out", str(f.root / "check.json")],
    "evaluate-config-garbage": lambda f: ["evaluate", "--checkpoint", str(f.checkpoint), "--config",
                                          str(f.root / "garbage.yaml"), "--out", str(f.root / "e.json"), "--device", "cpu"],
    "detect-factory-raises": lambda f: ["detect", "--backbone", f"{FACTORY_MODULE}:factory", "--input-size", "3,32,32"],
    "train-factory-raises": lambda f: ["train", "--config", str(f.root / "factory.yaml"), "--tasks", TRAIN_TASKS,
                                       "--layout", "id:3", "--out", str(f.root / "factory"), "--threads", "1",
                                       "--device", "cpu"],
    "detect-input-channels": lambda f: ["detect", "--input-size", "5,64,64"],
    "train-threads-zero": lambda f: ["train", "--config", str(f.config), "--tasks", TRAIN_TASKS, "--layout", "id:3",
                                     "--out", str(f.root / "threads"), "--threads", "0", "--device", "cpu"],
    "evaluate-threads-zero": lambda f: ["evaluate", "--checkpoint", str(f.checkpoint), "--out", str(f.root / "t.json"),
                                        "--device", "cpu", "--threads", "0"],
}
#: What the one line must mention, per case.
MENTIONS = {
    "recommend-budget-1e400": "1e400", "recommend-budget-1e400flops": "1e400flops", "recommend-budget-nan": "nan",
    "recommend-budget-inf": "inf", "recommend-budget-negative": "-1",
    "train-seed-negative": "--seed", "train-seed-2**32": "--seed",
    "data-synth-seed-negative": "--seed", "data-synth-seed-2**32": "--seed",
    "train-config-garbage": "garbage.yaml", "detect-config-png": "image.png", "data-check-config-png": "image.png",
    "evaluate-config-garbage": "garbage.yaml",
    "detect-factory-raises": "weights server unreachable", "train-factory-raises": "weights server unreachable",
    "detect-input-channels": "5, 64, 64",
    "train-threads-zero": "--threads: expected a positive integer, got 0",
    "evaluate-threads-zero": "--threads: expected a positive integer, got 0",
}


@pytest.mark.parametrize("case", list(OTHER_CASES))
def test_user_error_is_one_line(
    case: str, fixtures: Fixtures, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(fixtures.root))
    code, err = _run(OTHER_CASES[case](fixtures), capsys)
    _assert_one_line_error(code, err)
    assert MENTIONS[case] in err, err
    if "factory" in case:
        assert f"{FACTORY_MODULE}:factory" in err and "RuntimeError" in err, err
    assert _leftovers(fixtures.root) == []


def test_case_count() -> None:
    """The list the report counts: 7 writers x 5 failures plus the other user errors."""
    assert len(OUTPUT_CASES) == 35 and len(OTHER_CASES) == 18


def test_detect_failure_in_a_real_process_prints_one_line(tmp_path: Path) -> None:
    """Torch writes straight to the process's stderr too; a separate process sees all of it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "treemtl", "detect", "--input-size", "5,64,64"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    _assert_one_line_error(done.returncode, done.stderr)
    assert "5, 64, 64" in done.stderr
