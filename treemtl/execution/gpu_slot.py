"""Pin a command to a free GPU on a shared workstation with one lock file per GPU.

Snakemake's ``resources: gpu=N`` only counts GPUs; it does not say *which* GPU a job gets, so
two jobs would both start on GPU 0. ``acquire`` takes an exclusive ``fcntl.flock`` on the lock
file of a free GPU, and ``exec_with_gpus`` replaces this process by the command with the lock
descriptor inherited and ``CUDA_VISIBLE_DEVICES`` set. The lock lives exactly as long as the
command (and any child still holding the descriptor): the kernel drops it when the last holder
exits, including on ``kill -9``, so a crashed job can never leave a GPU marked busy.

The devices considered are those of ``CUDA_VISIBLE_DEVICES`` when it is already set (a SLURM
allocation, a user restriction) — then the locks only arbitrate inside that set — else
``0..count-1`` with the count from ``TREEMTL_GPU_COUNT`` (tests, overrides), ``nvidia-smi -L``
or, as a last resort, torch.

``TREEMTL_JOBS_PER_GPU`` (default 1) gives each GPU that many lock files, so that many jobs share
it: jobs too small to fill a GPU (the synthetic benchmark's small CNN trains in seconds, and its
start-up costs more) then run side by side instead of one after another. The profile's ``gpu``
resource counts these slots (GPUs × jobs per GPU).
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from treemtl.errors import TreeMTLError

COUNT_ENV = "TREEMTL_GPU_COUNT"
LOCK_DIR_ENV = "TREEMTL_GPU_LOCK_DIR"
JOBS_PER_GPU_ENV = "TREEMTL_JOBS_PER_GPU"


@dataclass
class Slot:
    """GPUs held by this process: their ids and the open, flocked lock file descriptors."""

    devices: list[str]
    fds: list[int]

    def release(self) -> None:
        """Close the descriptors (the lock stays with any process that inherited them)."""
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def default_lock_dir(env: Mapping[str, str] | None = None) -> Path:
    """Per-user lock folder shared by every job of this machine."""
    env = os.environ if env is None else env
    if env.get(LOCK_DIR_ENV):
        return Path(env[LOCK_DIR_ENV])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "treemtl-gpu"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Path(tempfile.gettempdir()) / f"treemtl-gpu-{user}"


def gpu_count(env: Mapping[str, str] | None = None) -> int:
    """Number of GPUs of this machine (``TREEMTL_GPU_COUNT`` wins, so tests need no GPU)."""
    env = os.environ if env is None else env
    if env.get(COUNT_ENV, "").strip():
        try:
            count = int(env[COUNT_ENV])
        except ValueError:
            raise TreeMTLError(f"{COUNT_ENV}: expected a non-negative integer, got {env[COUNT_ENV]!r}") from None
        if count < 0:
            raise TreeMTLError(f"{COUNT_ENV}: expected a non-negative integer, got {count}")
        return count
    if shutil.which("nvidia-smi"):
        try:
            listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True)
            return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count())


def candidate_devices(env: Mapping[str, str] | None = None) -> list[str]:
    """Device ids to choose from: an existing ``CUDA_VISIBLE_DEVICES`` or ``0..count-1``."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() and visible.strip() != "-1":
        return [item.strip() for item in visible.split(",") if item.strip()]
    return [str(index) for index in range(gpu_count(env))]


def jobs_per_gpu(env: Mapping[str, str] | None = None) -> int:
    """Jobs that may share one GPU (``TREEMTL_JOBS_PER_GPU``, default 1)."""
    env = os.environ if env is None else env
    text = env.get(JOBS_PER_GPU_ENV, "").strip()
    if not text:
        return 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise TreeMTLError(f"{JOBS_PER_GPU_ENV}: expected a positive integer, got {text!r}")
    return value


def _lock_name(device: str, slot: int = 0) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in device)
    return f"gpu{safe}.lock" if slot == 0 else f"gpu{safe}.{slot}.lock"


def try_lock(lock_dir: Path, device: str, slot: int = 0) -> int | None:
    """Open and flock lock file ``slot`` of ``device``; the descriptor, or None when it is taken."""
    fd = os.open(lock_dir / _lock_name(device, slot), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def acquire(
    count: int,
    devices: Sequence[str],
    lock_dir: Path,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
    per_gpu: int = 1,
) -> Slot:
    """Block until ``count`` distinct devices have a free slot (of ``per_gpu``) and lock them.

    All or nothing: a round that cannot lock ``count`` devices releases what it got, so two
    multi-GPU jobs can never deadlock holding half of what each needs.
    """
    if count > len(devices):
        raise TreeMTLError(
            f"gpu-slot: {count} GPU(s) requested but this machine has {len(devices)}"
            f" ({', '.join(devices) or 'none'})"
        )
    lock_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    while True:
        held = Slot([], [])
        for device in devices:
            fd = next((fd for fd in (try_lock(lock_dir, device, k) for k in range(per_gpu)) if fd is not None), None)
            if fd is not None:
                held.devices.append(device)
                held.fds.append(fd)
                if len(held.devices) == count:
                    return held
        held.release()
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise TreeMTLError(f"gpu-slot: no {count} free GPU(s) among {', '.join(devices)} after {timeout_s:g} s")
        time.sleep(poll_s)


def exec_with_gpus(command: Sequence[str], slot: Slot) -> None:
    """Replace this process by ``command`` on the GPUs of ``slot``, handing it the locks."""
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(slot.devices)
    for fd in slot.fds:
        os.set_inheritable(fd, True)
    try:
        os.execvpe(command[0], list(command), env)
    except OSError as error:
        slot.release()
        raise TreeMTLError(f"gpu-slot: cannot run {command[0]!r}: {error.strerror or error}") from error


def run_on_gpus(
    command: Sequence[str],
    gpus: int,
    lock_dir: Path | None = None,
    timeout_s: float | None = None,
) -> None:
    """Run ``command`` (never returns on success): unchanged for ``gpus == 0``, else pinned."""
    if not command:
        raise TreeMTLError("gpu-slot: no command given (usage: treemtl gpu-slot --gpus N -- COMMAND ...)")
    if gpus < 0:
        raise TreeMTLError(f"gpu-slot: --gpus must be >= 0, got {gpus}")
    if gpus == 0:
        try:
            os.execvp(command[0], list(command))
        except OSError as error:
            raise TreeMTLError(f"gpu-slot: cannot run {command[0]!r}: {error.strerror or error}") from error
    slot = acquire(gpus, candidate_devices(), lock_dir or default_lock_dir(), timeout_s=timeout_s,
                   per_gpu=jobs_per_gpu())
    exec_with_gpus(command, slot)
