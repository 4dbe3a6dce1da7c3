"""Hydrothermal studies: reading study data into the problem layer.

This layer turns the data planners already keep (for now, Cobre case
directories, see :mod:`caudal.hydro.cobre`) into a :class:`caudal.Problem`. It
knows what a reservoir or a transmission line is, and nothing of how the
problem is solved.
"""
