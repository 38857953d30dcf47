"""User code named in a config as ``package.module:callable`` (backbones, tasks, datasets).

Every plugin is imported and called here so that whatever goes wrong in it (the module is
missing, raises while importing, has no such callable, the call raises) becomes one
:class:`TreeMTLError` line naming the plugin, never a traceback from deep inside training.
Modules are imported as ``python -m`` would find them: installed packages first, then the
current working directory, so a plugin file next to the config works without installing it.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from treemtl.errors import TreeMTLError

#: ``package.module:callable`` (dotted module path, a colon, one attribute name).
SPEC_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


def is_spec(text: str) -> bool:
    """Whether ``text`` has the form ``package.module:callable``."""
    return re.match(SPEC_PATTERN, text) is not None


def load_callable(spec: str, what: str) -> Callable[..., Any]:
    """The callable ``spec`` names; ``what`` (e.g. ``"backbone"``) starts every error message."""
    if not is_spec(spec):
        raise TreeMTLError(f"{what} {spec!r}: expected 'package.module:callable'")
    module_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise TreeMTLError(f"{what} {spec!r}: cannot import module {module_name!r} ({error})") from None
    except Exception as error:  # the module's own code failed while importing
        raise TreeMTLError(f"{what} {spec!r}: importing {module_name!r} raised {type(error).__name__}: {error}") from error
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise TreeMTLError(f"{what} {spec!r}: {module_name!r} has no callable {attr!r}")
    return factory  # type: ignore[no-any-return]


def call_plugin(spec: str, what: str, *args: Any) -> Any:
    """Import ``spec`` and call it with ``args``; anything it raises is reported as naming the plugin."""
    factory = load_callable(spec, what)
    attr = spec.partition(":")[2]
    try:
        return factory(*args)
    except TreeMTLError as error:
        raise TreeMTLError(f"{what} {spec!r}: {error}") from error
    except Exception as error:  # user code may raise anything; report it as a config error
        raise TreeMTLError(f"{what} {spec!r}: {attr}() raised {type(error).__name__}: {error}") from error
