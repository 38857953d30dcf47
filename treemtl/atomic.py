"""Atomic file writes: a reader (or a restarted job) never sees a half-written file.

Each writer goes to a temporary file in the destination folder, is flushed to disk and then
renamed over the target with ``os.replace`` (atomic on POSIX and Windows within one filesystem).
A file-system failure (target is a folder, disk full, permission denied, ...) removes the temporary
file and becomes one :class:`TreeMTLError` naming the target, not a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from treemtl.errors import TreeMTLError


def _default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0666 less the umask); mkstemp's 0600 is too strict
    for results that colleagues on a shared cluster read."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


def output_error(path: str | os.PathLike[str], error: OSError) -> TreeMTLError:
    """A failure to write ``path`` as a one-line user error saying what was expected there."""
    target = Path(path)
    blocker = next((folder for folder in target.parents if folder.is_file()), None)
    if blocker is not None:
        reason = f"{blocker} is a file, expected a folder"
    elif isinstance(error, IsADirectoryError) or (error.errno == errno.EISDIR and target.is_dir()):
        reason = "it is a folder, expected a file path"
    elif isinstance(error, (FileExistsError, NotADirectoryError)) and target.is_file():
        reason = "it is a file, expected a folder"
    else:
        reason = error.strerror or str(error)
        missing = [folder for folder in target.parents if not folder.exists()]
        if isinstance(error, FileNotFoundError) and missing:
            reason += f": cannot create folder {missing[-1]}"
    return TreeMTLError(f"{target}: cannot write ({reason})")


def _write_atomic(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Run ``write`` on a temporary sibling of ``path`` and rename it into place."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            os.fchmod(fd, _FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise
    except OSError as error:
        raise output_error(target, error) from error
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    data = text.encode("utf-8")
    return _write_atomic(path, lambda handle: handle.write(data))


def write_lines_atomic(path: str | os.PathLike[str], lines: Iterable[str]) -> Path:
    """Write UTF-8 ``lines`` (each ending in its newline) to ``path`` atomically, as they come.

    Nothing is joined in memory, so a file of millions of lines is written in bounded memory.
    """
    return _write_atomic(path, lambda handle: handle.writelines(line.encode("utf-8") for line in lines))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (binary artifacts such as ``.npz``)."""
    return _write_atomic(path, lambda handle: handle.write(data))


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON (sorted keys kept as given, trailing newline) atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")


def save_torch_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """``torch.save`` to ``path`` atomically, so a kill mid-save leaves the previous file intact."""
    import torch  # local import: the rest of this module is used by torch-free code

    return _write_atomic(path, lambda handle: torch.save(obj, handle))


def save_figure_atomic(path: str | os.PathLike[str], figure: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically (format from the suffix, PNG by default) and close it."""
    target = Path(path)
    image_format = target.suffix.lstrip(".") or "png"
    try:
        return _write_atomic(target, lambda handle: figure.savefig(handle, format=image_format, dpi=dpi))
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
