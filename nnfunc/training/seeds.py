"""One seed tree per run: ``SeedSequence(seed)`` spawned once into independent streams.

Every random draw of a run comes from one of five children, so changing
how one part draws (a larger validation set, dropout on or off) never
shifts the numbers another part sees, and a run is fully fixed by its seed.
"""

from typing import NamedTuple

import numpy as np

from nnfunc import checks


class RunSeeds(NamedTuple):
    """The run's streams, each a ``numpy.random.SeedSequence``: pass one to ``default_rng``.

    Children 0 and 1 are the streams nnfunc 0.1 already drew the split and
    the shuffles from (``spawn(2)``), so those stay as they were; child i
    of ``spawn(5)`` is child i of ``spawn(4)``, so adding ``augment`` moved
    no other stream.
    """

    split: np.random.SeedSequence     # which training examples are held out for validation
    batches: np.random.SeedSequence   # each epoch's shuffle
    init: np.random.SeedSequence      # the initial params
    dropout: np.random.SeedSequence   # the dropout masks
    augment: np.random.SeedSequence   # the distortions of training images


def run_seeds(seed):
    """Spawn the run's five streams from an int seed >= 0.

    Raises:
        ConfigError: a seed that is not an int >= 0.
    """
    return RunSeeds(*np.random.SeedSequence(checks.seed(seed)).spawn(5))
