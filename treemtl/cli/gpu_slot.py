"""``treemtl gpu-slot``: run a command on free GPU(s), one job per GPU unless TREEMTL_JOBS_PER_GPU says
more (see treemtl.execution.gpu_slot)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gpu-slot",
        help="run a command pinned to free GPU(s) (flock per GPU)",
        description="Wait for GPUS free GPUs, lock them, set CUDA_VISIBLE_DEVICES and exec COMMAND. "
        "The locks are released when COMMAND exits (or is killed). With --gpus 0 COMMAND runs "
        "unchanged. GPU count: TREEMTL_GPU_COUNT, else nvidia-smi -L; an existing "
        "CUDA_VISIBLE_DEVICES (e.g. from SLURM) restricts the choice; TREEMTL_JOBS_PER_GPU=K lets K "
        "jobs share each GPU.",
    )
    parser.add_argument("--gpus", type=int, default=1, help="number of GPUs the command needs (default 1)")
    parser.add_argument("--lock-dir", default=None,
                        help="lock folder (default: $TREEMTL_GPU_LOCK_DIR, $XDG_RUNTIME_DIR/treemtl-gpu or /tmp/treemtl-gpu-$USER)")
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many seconds of waiting")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from treemtl.execution.gpu_slot import run_on_gpus

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    run_on_gpus(command, args.gpus, Path(args.lock_dir) if args.lock_dir else None, args.timeout)
    return 0
