"""Checked reading of dataset files.

Real datasets arrive in many slightly different exports; a wrong bit depth or a transposed
array otherwise surfaces as a shape error deep inside a training step. Every reader here
checks what it loads and raises :class:`TreeMTLError` naming the file and what was expected.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from treemtl.errors import TreeMTLError


def require_file(path: Path, what: str = "file") -> Path:
    """Return ``path`` if it is a regular file, else raise an error that names it."""
    if not path.is_file():
        raise TreeMTLError(f"{path}: {what} not found")
    return path


def read_json(path: Path, what: str = "JSON file") -> Any:
    """Parse a JSON file; a missing or malformed file is a user error naming the file."""
    require_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TreeMTLError(f"{path}: cannot read {what}: {error}") from None


def read_png(path: Path, *, dtypes: Collection[str], channels: Collection[int], what: str = "image") -> np.ndarray:
    """Read a PNG (or any Pillow image) as an array and check its dtype and channel count.

    ``channels`` lists accepted channel counts (1 = single-band HxW array). An RGBA file is
    accepted where 3 channels are and its alpha dropped, as several exports add one.
    """
    from PIL import Image, UnidentifiedImageError

    require_file(path, what)
    try:
        with Image.open(path) as image:
            array = np.asarray(image)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise TreeMTLError(f"{path}: cannot read {what}: {error}") from None
    if array.ndim == 3 and array.shape[2] == 4 and 3 in channels:
        array = array[:, :, :3]
    count = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else -1)
    if count not in channels:
        wanted = " or ".join(str(c) for c in sorted(channels))
        raise TreeMTLError(f"{path}: {what} has shape {tuple(array.shape)}; expected {wanted} channel(s)")
    if array.dtype.name not in dtypes:
        raise TreeMTLError(f"{path}: {what} has dtype {array.dtype.name}; expected {' or '.join(sorted(dtypes))}")
    return array


def read_npy(path: Path, *, ndims: Collection[int], what: str = "array", numeric: bool = True) -> np.ndarray:
    """Load a ``.npy`` array and check its rank (and that it is numeric)."""
    require_file(path, what)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise TreeMTLError(f"{path}: cannot read {what}: {error}") from None
    if array.ndim not in ndims:
        wanted = " or ".join(str(n) for n in sorted(ndims))
        raise TreeMTLError(f"{path}: {what} has shape {tuple(array.shape)}; expected {wanted} dimensions")
    if numeric and not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TreeMTLError(f"{path}: {what} has dtype {array.dtype}; expected a numeric array")
    return array


def check_hw(array: np.ndarray, hw: tuple[int, int], path: Path, what: str) -> None:
    """Raise unless ``array``'s first two dimensions equal the image's height and width."""
    if tuple(array.shape[:2]) != hw:
        raise TreeMTLError(f"{path}: {what} is {array.shape[0]}x{array.shape[1]}; expected {hw[0]}x{hw[1]} like its image")
