"""Build the Cython kernels in ``native/`` against the HiGHS of the highsbox package.

Everything else about the package is in ``pyproject.toml``.

highsbox (a build and run-time requirement) distributes HiGHS as a shared
library, ``highs_dist/lib/libhighs.so``, with HiGHS's official headers; the
kernels include ``interfaces/highs_c_api.h`` from ``highs_include_dir()`` and
link ``libhighs.so`` from ``highs_lib_dir()`` by its SONAME. No absolute
rpath is recorded (in an isolated build the highsbox folder is a temporary
directory): the relative rpath ``$ORIGIN/../highsbox/highs_dist/lib`` finds
the library when caudal and highsbox are side by side in one site-packages
(the usual install), and :mod:`caudal.solver.native_workspace` loads it by its
path from ``highs_lib_dir()`` before importing the kernels, which covers every
other layout (an editable install, ``build_ext --inplace``).
"""

import os

import highsbox
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

NATIVE = "native"
HIGHS_RPATH = "$ORIGIN/../highsbox/highs_dist/lib"


def highs_library_dir() -> str:
    """highsbox's folder holding libhighs.so, checked so that a broken install fails here, not at link time."""
    folder = highsbox.highs_lib_dir()
    if not os.path.exists(os.path.join(folder, "libhighs.so")):
        raise RuntimeError(f"{folder} has no libhighs.so; caudal's native kernels need the highsbox package")
    return folder


def native_extension(name: str, source: str, extra_args: tuple[str, ...] = (), highs: bool = True) -> Extension:
    """A kernel module; ``highs=False`` for one that calls no HiGHS, so it loads without libhighs."""
    linked = {
        "library_dirs": [highs_library_dir()],
        "libraries": ["highs"],
        "runtime_library_dirs": [HIGHS_RPATH],
    } if highs else {}
    return Extension(
        f"caudal.{name}",
        [os.path.join(NATIVE, source)],
        include_dirs=[numpy.get_include(), NATIVE, highsbox.highs_include_dir()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3", *extra_args],
        **linked,
    )


setup(
    ext_modules=cythonize(
        [
            native_extension("_native", "_native.pyx"),
            native_extension("_bench", "_bench.pyx"),
            # no fused multiply-adds: its cut values must be the numpy reference's bits on every CPU
            native_extension("_dominance", "_dominance.pyx", ("-ffp-contract=off",), highs=False),
            # the serial rebuild between backward stages (copies and sign flips only, no sums)
            native_extension("_stage_rows", "_stage_rows.pyx", ("-ffp-contract=off",), highs=False),
        ],
        include_path=[NATIVE],
        compiler_directives={"language_level": 3},
    ),
)
