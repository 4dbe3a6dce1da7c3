"""Build the Cython kernels in ``native/`` against the highspy wheel's libhighs.

Everything else about the package is in ``pyproject.toml``.
"""

from setuptools import setup

setup()
