"""Builds the box2mask package and its compiled ops ``box2mask._C``.

The C++ (CPU) kernels are always built. The CUDA kernels are built too when a GPU is visible
and nvcc is found (``CUDA_HOME``), as detectron2 does, or with ``FORCE_CUDA=1`` (CI compiles
them that way on machines without a GPU); ``FORCE_CUDA=0`` builds the CPU kernels only.
``BOX2MASK_NO_EXT=1`` skips the extension (scripts/setup.sh builds it in place, incrementally).
"""
import glob
import os

import torch
from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("box2mask", "csrc")


def want_cuda() -> bool:
    force = os.environ.get("FORCE_CUDA")
    if force is not None:
        return force == "1"
    return torch.cuda.is_available() and CUDA_HOME is not None


def get_extensions():
    if os.environ.get("BOX2MASK_NO_EXT") == "1":  # editable install; scripts/setup.sh builds
        return []
    sources = sorted(glob.glob(os.path.join(CSRC, "**", "*.cpp"), recursive=True))
    extra_compile_args = {"cxx": ["-O3"]}
    define_macros = []
    extension = CppExtension
    if want_cuda():
        extension = CUDAExtension
        sources += sorted(glob.glob(os.path.join(CSRC, "**", "*.cu"), recursive=True))
        define_macros.append(("WITH_CUDA", None))
        extra_compile_args["nvcc"] = ["-O3", "--expt-relaxed-constexpr"]
        # No GPU on the build machines: default to a small set of common architectures.
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "7.5;8.0;8.6;9.0")
    return [
        extension(
            "box2mask._C",
            sources,
            include_dirs=[os.path.join(HERE, CSRC)],
            define_macros=define_macros,
            extra_compile_args=extra_compile_args,
        )
    ]


setup(
    name="box2mask",
    version="0.1.0",
    description="Box-supervised instance segmentation via level-set evolution (Box2Mask), "
    "as a detectron2 project",
    packages=find_packages(exclude=("tests", "benchmarks", "configs")),
    python_requires=">=3.10",
    ext_modules=get_extensions(),
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
