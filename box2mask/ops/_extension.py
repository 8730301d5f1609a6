"""Lazy loading of the compiled ops ``box2mask._C``, and the pattern of every op front end.

``import box2mask`` never needs the build; the first op call loads it, or says how to build it.

Each ``box2mask/ops/<op>.py`` wraps ops ``box2mask::<name>`` (schemas declared once in
``csrc/box2mask.cpp``) the same way:

1. **Fake kernel** for every op: ``@fake_kernel("<name>")`` on a function with the schema's
   arguments that returns empty tensors of the outputs' shapes and dtypes (``new_empty``), never
   reading tensor values. They are registered (``torch.library.register_fake``) when the
   extension loads, so ``torch.library.opcheck`` and ``torch.compile`` can trace the op.
2. **Boundary checks** ``_check_*``: types, ranks, shapes, dtypes, devices (host metadata only),
   raising ``TypeError`` / ``ValueError`` that name the argument and the expected shape.
   Checks that read tensor values (index ranges, finiteness) run only ``if
   check_values(*tensors)``: always for CPU tensors (reading them costs no synchronisation),
   for tensors on an accelerator only with the debug switch on (they would make the host wait
   for the device on every call), never while ``torch.compile`` traces.
3. **Autograd**: a private ``torch.autograd.Function`` whose ``forward`` / ``backward`` call
   ``ops().<name>`` on contiguous tensors of the compute dtype (``ops()`` loads the extension,
   also when ``torch.compile`` meets the first call). An op without gradient (a ``no_grad``
   baseline) calls ``ops().<name>`` from the functional alias directly.
4. **Functional alias**, the public API: checks, casts to :func:`compute_dtype` (float16 /
   bfloat16 and autocast compute in float32), applies the Function inside
   :func:`autocast_disabled`, and documents Args / Returns with shapes.
5. **Tests** ``tests/ops/test_<op>.py``: against the pure-PyTorch reference beside the op,
   gradcheck, dtypes, contiguity, empty and malformed inputs, ``opcheck`` of every op;
   ``tests/ops/test_opcheck.py`` checks that every registered op has its fake kernel.

Debug switch: ``BOX2MASK_DEBUG_CHECKS=1`` in the environment, or :func:`set_debug_checks`.
"""
import contextlib
import importlib
import os
from typing import Callable, Dict

import torch

__all__ = [
    "load_extension",
    "ops",
    "cuda_built",
    "fake_kernel",
    "set_debug_checks",
    "debug_checks_enabled",
    "check_values",
    "compute_dtype",
    "autocast_disabled",
]

_BUILD_HINT = (
    "box2mask's compiled ops (box2mask._C) are not built: run `make setup` in the repository "
    "(or `pip install -e . --no-build-isolation` in an environment with torch)."
)

_FAKE_KERNELS: Dict[str, Callable] = {}
_module = None  # box2mask._C once loaded
_debug_checks = os.environ.get("BOX2MASK_DEBUG_CHECKS", "0") not in ("", "0")


def load_extension():
    """Import ``box2mask._C``, which registers ``torch.ops.box2mask.*``, and register the fake
    kernels of those ops (once); return the module."""
    global _module
    if _module is None:
        try:
            module = importlib.import_module("box2mask._C")
        except ImportError as e:
            raise RuntimeError(f"{_BUILD_HINT} ({e})") from e
        for name, fn in _FAKE_KERNELS.items():
            torch.library.register_fake(f"box2mask::{name}")(fn)
        _module = module
    return _module


@torch.compiler.assume_constant_result
def _loaded() -> bool:
    load_extension()  # run, not traced, when torch.compile meets the first op call
    return True


def ops():
    """The op namespace ``torch.ops.box2mask``, with the extension loaded."""
    _loaded()
    return torch.ops.box2mask


def cuda_built() -> bool:
    """Whether the extension was compiled with its CUDA kernels."""
    return load_extension().cuda_built()


def fake_kernel(name: str):
    """Decorator: ``fn`` is the fake (meta) kernel of ``box2mask::<name>``, registered when the
    extension loads (at once if it is loaded already)."""

    def register(fn):
        if name in _FAKE_KERNELS:
            raise RuntimeError(f"box2mask::{name} has a fake kernel already")
        _FAKE_KERNELS[name] = fn
        if _module is not None:
            torch.library.register_fake(f"box2mask::{name}")(fn)
        return fn

    return register


def set_debug_checks(enabled: bool) -> None:
    """Run the ops' value checks on accelerator tensors too (each one synchronises)."""
    global _debug_checks
    _debug_checks = bool(enabled)


def debug_checks_enabled() -> bool:
    """Whether the debug switch is on (``BOX2MASK_DEBUG_CHECKS=1`` or :func:`set_debug_checks`)."""
    return _debug_checks


def check_values(*tensors: torch.Tensor) -> bool:
    """Whether a wrapper should run its checks that read the values of ``tensors``."""
    if torch.compiler.is_compiling():
        return False
    return _debug_checks or all(t.device.type == "cpu" for t in tensors)


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any of ``tensors`` is float64, else float32 (half precision computes in fp32)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def autocast_disabled(device: torch.device):
    """A context with autocast off on ``device`` (nothing to do where it has no autocast: meta)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()
