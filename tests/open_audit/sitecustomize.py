"""Records the files each ``treemtl`` process opens under one folder (tests only; off unless asked).

A test puts this folder first on ``PYTHONPATH`` and sets ``TREEMTL_OPEN_AUDIT_DIR`` (where the
records go) and ``TREEMTL_OPEN_AUDIT_ROOT`` (the folder to watch). Every Python process then imports
this module at start-up; only ``treemtl`` processes install the audit hook. Each writes
``<pid>.tsv`` with a first line ``J<TAB><file behind its stderr>`` (the job's log, since every rule
redirects stderr there), then ``R<TAB><path>`` per file opened for reading and ``W<TAB><path>`` per
file opened for writing or renamed into place, in the order they happened.
"""

from __future__ import annotations

import os
import sys


def _install() -> None:
    out = os.environ.get("TREEMTL_OPEN_AUDIT_DIR")
    root = os.environ.get("TREEMTL_OPEN_AUDIT_ROOT")
    argv = getattr(sys, "orig_argv", [])
    if not out or not root or len(argv) < 2 or os.path.basename(argv[1]) != "treemtl":
        return
    root = os.path.join(os.path.realpath(root), "")
    try:
        job_log = os.readlink("/proc/self/fd/2")
    except OSError:
        job_log = ""
    record = open(os.path.join(out, f"{os.getpid()}.tsv"), "a", encoding="utf-8", buffering=1)
    record.write(f"J\t{job_log}\n")
    writing = os.O_WRONLY | os.O_RDWR

    def note(kind: str, path: object) -> None:
        if isinstance(path, int):
            return
        full = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
        if full.startswith(root) and not os.path.isdir(full):
            record.write(f"{kind}\t{full}\n")

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "open":
            flags = args[2] if isinstance(args[2], int) else 0
            note("W" if flags & writing else "R", args[0])
        elif event == "os.rename":
            note("W", args[1])

    sys.addaudithook(hook)


_install()
