"""Gradient verification: analytic gradients against central differences.

``checker`` takes any loss function over a dict of arrays and imports no
model code (``probes`` measures, ``report`` tabulates); ``network`` wraps
it around a network's params and input. Import the functions from
``nnfunc`` (``nf.gradcheck``, ``nf.check_network``) or from these modules.
"""
