"""Lazy loading of the compiled ops ``box2mask._C``.

``import box2mask`` never needs the build; the first op call loads it, or says how to build it.
"""
import functools
import importlib

__all__ = ["load_extension", "cuda_built"]

_BUILD_HINT = (
    "box2mask's compiled ops (box2mask._C) are not built: run `make setup` in the repository "
    "(or `pip install -e . --no-build-isolation` in an environment with torch)."
)


@functools.lru_cache(maxsize=None)
def load_extension():
    """Import ``box2mask._C``, which registers ``torch.ops.box2mask.*``; return the module."""
    try:
        return importlib.import_module("box2mask._C")
    except ImportError as e:
        raise RuntimeError(f"{_BUILD_HINT} ({e})") from e


def cuda_built() -> bool:
    """Whether the extension was compiled with its CUDA kernels."""
    return load_extension().cuda_built()
