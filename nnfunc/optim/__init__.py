"""Optimization: the update rules as ``(init, update)`` pairs, their fused kernels, and lr schedules."""
