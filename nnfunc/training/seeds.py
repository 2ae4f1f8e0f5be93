"""One seed tree per run: ``SeedSequence(seed)`` spawned once into independent streams.

Every random draw of a run comes from one of four children, so changing
how one part draws (a larger validation set, dropout on or off) never
shifts the numbers another part sees, and a run is fully fixed by its seed.
"""

from typing import NamedTuple

import numpy as np

from nnfunc import checks


class RunSeeds(NamedTuple):
    """The run's streams, each a ``numpy.random.SeedSequence``: pass one to ``default_rng``."""

    init: np.random.SeedSequence      # the initial params
    split: np.random.SeedSequence     # which training examples are held out for validation
    batches: np.random.SeedSequence   # each epoch's shuffle
    dropout: np.random.SeedSequence   # the dropout masks


def run_seeds(seed):
    """Spawn the run's four streams from an int seed >= 0.

    Raises:
        ConfigError: a seed that is not an int >= 0.
    """
    return RunSeeds(*np.random.SeedSequence(checks.seed(seed)).spawn(4))
