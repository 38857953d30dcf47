"""The GPU allocator: distinct GPUs for concurrent jobs, waiting when all are taken, release on death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from treemtl.errors import TreeMTLError
from treemtl.execution.gpu_slot import (
    acquire,
    candidate_devices,
    default_lock_dir,
    gpu_count,
    jobs_per_gpu,
    run_on_gpus,
    try_lock,
)

#: The allocator as a job wrapper would run it (the library call behind ``treemtl gpu-slot``),
#: without the CLI's start-up imports, so the timing assertions stay meaningful on a busy machine.
SLOT = "import sys; from treemtl.execution.gpu_slot import run_on_gpus; run_on_gpus(sys.argv[2:], int(sys.argv[1]))"
HOLDER = (
    "import os, sys, time; "
    "open(sys.argv[1], 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')); "
    "time.sleep(float(sys.argv[2]))"
)


def _start(tmp_path: Path, name: str, seconds: float, lock_dir: Path, gpus: int = 1) -> subprocess.Popen[bytes]:
    env = dict(os.environ, TREEMTL_GPU_COUNT="2", TREEMTL_GPU_LOCK_DIR=str(lock_dir))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.Popen(
        [sys.executable, "-c", SLOT, str(gpus), sys.executable, "-c", HOLDER, str(tmp_path / name), str(seconds)],
        env=env,
    )


def _wait_for(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_three_holders_on_two_gpus(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    first = _start(tmp_path, "a", 60, locks)
    second = _start(tmp_path, "b", 60, locks)
    try:
        got = {_wait_for(tmp_path / "a"), _wait_for(tmp_path / "b")}
        assert got == {"0", "1"}
        third = _start(tmp_path, "c", 0, locks)
        time.sleep(2.0)
        assert not (tmp_path / "c").exists(), "a third job started while both GPUs were held"
        first.send_signal(signal.SIGKILL)  # a killed holder must release its GPU
        first.wait()
        freed = _wait_for(tmp_path / "a")
        assert _wait_for(tmp_path / "c") == freed
        assert third.wait(timeout=30) == 0
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()


def test_zero_gpus_runs_the_command_unchanged(tmp_path: Path) -> None:
    env = dict(os.environ, TREEMTL_GPU_COUNT="0", CUDA_VISIBLE_DEVICES="7")
    done = subprocess.run(
        [sys.executable, "-c", SLOT, "0", sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert done.stdout.strip() == "7"


def test_exit_status_is_the_commands(tmp_path: Path) -> None:
    env = dict(os.environ, TREEMTL_GPU_COUNT="1", TREEMTL_GPU_LOCK_DIR=str(tmp_path))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    done = subprocess.run(
        [sys.executable, "-c", SLOT, "1", sys.executable, "-c", "raise SystemExit(3)"], env=env
    )
    assert done.returncode == 3


def test_more_gpus_than_the_machine_has_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREEMTL_GPU_COUNT", "1")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(TreeMTLError, match=r"2 GPU\(s\) requested but this machine has 1"):
        run_on_gpus(["true"], 2, lock_dir=tmp_path)
    with pytest.raises(TreeMTLError, match="no command"):
        run_on_gpus([], 1, lock_dir=tmp_path)


def test_acquire_is_all_or_nothing(tmp_path: Path) -> None:
    held = try_lock(tmp_path, "1")
    assert held is not None
    try:
        with pytest.raises(TreeMTLError, match="no 2 free GPU"):
            acquire(2, ["0", "1"], tmp_path, poll_s=0.01, timeout_s=0.1)
        slot = acquire(1, ["0", "1"], tmp_path, poll_s=0.01, timeout_s=1)
        assert slot.devices == ["0"]
        slot.release()
        assert try_lock(tmp_path, "0") is not None  # released: free again
    finally:
        os.close(held)


def test_jobs_per_gpu_share_each_gpu_up_to_its_slots(tmp_path: Path) -> None:
    first = acquire(1, ["0"], tmp_path, poll_s=0.01, timeout_s=1, per_gpu=2)
    second = acquire(1, ["0"], tmp_path, poll_s=0.01, timeout_s=1, per_gpu=2)
    try:
        assert first.devices == second.devices == ["0"]
        with pytest.raises(TreeMTLError, match="no 1 free GPU"):
            acquire(1, ["0"], tmp_path, poll_s=0.01, timeout_s=0.1, per_gpu=2)
        # a two-GPU job never takes two slots of one GPU
        with pytest.raises(TreeMTLError, match="2 GPU"):
            acquire(2, ["0"], tmp_path, poll_s=0.01, timeout_s=0.1, per_gpu=2)
    finally:
        first.release()
    third = acquire(1, ["0"], tmp_path, poll_s=0.01, timeout_s=1, per_gpu=2)
    assert third.devices == ["0"]
    third.release()
    second.release()


def test_jobs_per_gpu_setting() -> None:
    assert jobs_per_gpu({}) == 1 and jobs_per_gpu({"TREEMTL_JOBS_PER_GPU": "4"}) == 4
    for bad in ("0", "two", "-1"):
        with pytest.raises(TreeMTLError, match="TREEMTL_JOBS_PER_GPU"):
            jobs_per_gpu({"TREEMTL_JOBS_PER_GPU": bad})


def test_devices_follow_an_existing_allocation() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "2,5", "TREEMTL_GPU_COUNT": "8"}
    assert candidate_devices(env) == ["2", "5"]
    assert candidate_devices({"TREEMTL_GPU_COUNT": "3"}) == ["0", "1", "2"]
    assert gpu_count({"TREEMTL_GPU_COUNT": "4"}) == 4
    with pytest.raises(TreeMTLError, match="TREEMTL_GPU_COUNT"):
        gpu_count({"TREEMTL_GPU_COUNT": "two"})


def test_lock_dir_defaults() -> None:
    assert default_lock_dir({"TREEMTL_GPU_LOCK_DIR": "/x"}) == Path("/x")
    assert default_lock_dir({"XDG_RUNTIME_DIR": "/run/user/1"}) == Path("/run/user/1/treemtl-gpu")
    assert default_lock_dir({}).name.startswith("treemtl-gpu-")
