"""Build the Cython kernels in ``native/`` against the highspy wheel's libhighs.

Everything else about the package is in ``pyproject.toml``.

The HiGHS C API comes from ``libhighs.so.1`` inside the installed highspy
package (a build requirement), linked by its file name. No absolute rpath is
recorded: in an isolated build the highspy folder is a temporary directory.
At run time ``caudal/__init__`` imports highspy first, which loads
``libhighs.so.1``, and the loader then resolves the extension's dependency by
its SONAME. The relative rpath ``$ORIGIN/../highspy`` (caudal and highspy side
by side in one site-packages, the usual install) also lets the extension load
on its own; where it does not apply (an editable install) the import order
still does.
"""

import importlib.util
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

NATIVE = "native"


def highspy_folder() -> str:
    """The folder of the installed highspy package, found without importing it."""
    spec = importlib.util.find_spec("highspy")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("building caudal's native kernels needs highspy==1.15.1 installed")
    folder = list(spec.submodule_search_locations)[0]
    if not os.path.exists(os.path.join(folder, "libhighs.so.1")):
        raise RuntimeError(f"{folder} has no libhighs.so.1; caudal needs the highspy 1.15.1 wheel")
    return folder


def native_extension(name: str, source: str, extra_args: tuple[str, ...] = ()) -> Extension:
    return Extension(
        f"caudal.{name}",
        [os.path.join(NATIVE, source)],
        include_dirs=[numpy.get_include(), NATIVE],
        library_dirs=[highspy_folder()],
        libraries=[":libhighs.so.1"],
        runtime_library_dirs=["$ORIGIN/../highspy"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3", *extra_args],
    )


setup(
    ext_modules=cythonize(
        [
            native_extension("_native", "_native.pyx"),
            native_extension("_bench", "_bench.pyx"),
            # no fused multiply-adds: its cut values must be the numpy reference's bits on every CPU
            native_extension("_dominance", "_dominance.pyx", ("-ffp-contract=off",)),
        ],
        include_path=[NATIVE],
        compiler_directives={"language_level": 3},
    ),
)
