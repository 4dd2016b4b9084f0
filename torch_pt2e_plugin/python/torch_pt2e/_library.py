"""Finding and loading libtorch_pt2e.so into the running torch."""

import importlib
import os
import re
from pathlib import Path
from typing import List, Optional

import torch

_ENV = "TORCH_PT2E_LIBRARY"
_LIB_NAME = "libtorch_pt2e.so"
_loaded_path: Optional[str] = None


class LibraryLoadError(RuntimeError):
    """The plugin library is missing or was built for another torch."""


def _candidates() -> List[Path]:
    here = Path(__file__).resolve().parent
    repo = here.parents[2]  # torch_pt2e_plugin/python/torch_pt2e -> repository root
    return [
        here / _LIB_NAME,                 # installed next to the package
        repo / "bazel-bin" / _LIB_NAME,   # bazel build //:torch_pt2e
        repo / "build" / _LIB_NAME,       # cmake -B build
    ]


def library_path() -> str:
    """Path of the library that `load_library` loads (or has loaded)."""
    if _loaded_path:
        return _loaded_path
    explicit = os.environ.get(_ENV)
    if explicit:
        if not Path(explicit).is_file():
            raise LibraryLoadError(f"{_ENV}={explicit} does not name a file")
        return explicit
    for candidate in _candidates():
        if candidate.is_file():
            return str(candidate)
    looked = "\n  ".join(str(c) for c in _candidates())
    raise LibraryLoadError(
        f"{_LIB_NAME} not found; looked in:\n  {looked}\n"
        f"Build it (`bazel build //:torch_pt2e`, or CMake) or set {_ENV} to its path."
    )


def read_build_marker(path: str) -> dict:
    """The build facts embedded in the library file (without loading it)."""
    data = Path(path).read_bytes()
    match = re.search(rb"TORCH_PT2E_BUILD:([^\x00]*?);end", data)
    if not match:
        return {}
    fields = {}
    for item in match.group(1).decode().split(";"):
        key, _, value = item.partition("=")
        fields[key] = value
    return fields


def _major_minor(version: str) -> str:
    return ".".join(version.split("+")[0].split(".")[:2])


def check_compatible(path: str) -> None:
    """Raises LibraryLoadError if the library was built for another torch."""
    marker = read_build_marker(path)
    if not marker:
        raise LibraryLoadError(f"{path} is not a torch_pt2e library (no build marker found)")
    built = marker.get("torch", "")
    if _major_minor(built) != _major_minor(torch.__version__):
        raise LibraryLoadError(
            f"{path} was built against torch {built}, but this process runs torch {torch.__version__}. "
            "Rebuild the plugin against this torch (README.md, 'Building against another LibTorch')."
        )
    abi = marker.get("cxx11_abi")
    running_abi = str(int(torch._C._GLIBCXX_USE_CXX11_ABI))
    if abi is not None and abi != running_abi:
        raise LibraryLoadError(
            f"{path} was built with _GLIBCXX_USE_CXX11_ABI={abi}, but this torch uses {running_abi}; rebuild it."
        )
    if marker.get("cuda", "none") != "none" and not torch.backends.cuda.is_built():
        raise LibraryLoadError(f"{path} was built with CUDA {marker['cuda']}, but this torch has no CUDA.")


def load_library(path: Optional[str] = None) -> str:
    """Loads the plugin once per process and returns its path."""
    global _loaded_path
    if _loaded_path:
        return _loaded_path
    path = path or library_path()
    check_compatible(path)
    try:
        # torch 2.x defines quantized_decomposed in Python; the plugin adds its
        # kernels to those definitions (it would also import it by itself).
        importlib.import_module("torch.ao.quantization.fx._decomposed")
    except ImportError:
        pass
    try:
        torch.ops.load_library(path)
    except OSError as error:
        raise LibraryLoadError(f"loading {path} failed: {error}") from error
    _loaded_path = path
    return path


def build_info() -> dict:
    import json

    load_library()
    return json.loads(torch.ops.torch_pt2e.build_info())


