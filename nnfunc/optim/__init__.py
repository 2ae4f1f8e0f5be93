"""Optimization: the update rules as ``(init, update)`` pairs, their NumPy reference arithmetic, and lr schedules."""
