"""Hyperparameter sweeps: ``nnfunc sweep`` runs many trials of ``nnfunc train`` on a Dask cluster, chosen by Optuna.

Install with ``pip install -e ".[sweep]"``; ``import nnfunc`` never loads
this package. The modules, in the order data flows: ``space`` (what is
searched, checked), ``store`` (Optuna: choosing, pruning, the SQLite study),
``trial`` (one run, on a worker), ``engine`` (Dask: where trials run),
``directory`` (the sweep directory's files) and ``results`` (the table and
plots); the command line is ``nnfunc.cli.sweep``.
"""
