"""Embedded example cases, built through the public :class:`~caudal.Problem` API.

``brazil4`` is the default case of ``caudal train``: the four-reservoir Brazilian
hydrothermal benchmark with its historical inflows (data and license under
``data/brazil4``). ``national`` is a seeded synthetic system of national size
(160 hydros, 130 thermals, 5 subsystems, 120 stages; smaller on request) that
also writes itself out as a Cobre case directory (``write_national``).
"""

from caudal.examples.brazil4 import brazil4

__all__ = ["brazil4", "national", "write_national"]


def __getattr__(name: str):
    """``national`` and ``write_national`` on first use: they bring the Cobre reader and pyarrow along,
    which ``import caudal`` should not pay for. (Their module is ``national_case``, not ``national``: a
    submodule named like the function would replace it as an attribute of this package once imported.)"""
    if name in ("national", "write_national"):
        from caudal.examples import national_case

        return getattr(national_case, name)
    raise AttributeError(f"module 'caudal.examples' has no attribute {name!r}")
