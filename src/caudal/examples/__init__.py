"""Embedded example cases, built through the public :class:`~caudal.Problem` API.

``brazil4`` is the default case of ``caudal train``: the four-reservoir Brazilian
hydrothermal benchmark with its historical inflows (data and license under
``data/brazil4``).
"""

from caudal.examples.brazil4 import brazil4

__all__ = ["brazil4"]
