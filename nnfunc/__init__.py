"""nnfunc: a from-scratch NumPy MLP library of pure functions.

A network is a plain dict of arrays; ``init``, ``forward``, ``loss``,
``backward``, ``update`` and ``gradcheck`` are pure functions over it.
Importing nnfunc does not import matplotlib or the training CLI.
"""

__version__ = "0.1.0"

from nnfunc.activations import ACTIVATIONS
from nnfunc.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DataNotFoundError,
    DivergenceError,
    GradientMismatchError,
    InputError,
    NnfuncError,
    ParamsError,
)
from nnfunc.initializers import SCHEMES, init
from nnfunc.losses import log_softmax, softmax
from nnfunc.model import (
    backward,
    forward,
    input_grad,
    kink_pattern,
    loss,
    predict,
    update,
    value_and_grad,
)
from nnfunc.params import Grads, Params, layer_sizes, num_layers, param_keys, validate_params
from nnfunc.optimizers import Optimizer, adam, adamw, apply_updates, momentum, rmsprop, sgd
from nnfunc import schedules
from nnfunc.data import Dataset, load_dataset, split_validation
from nnfunc.gradcheck import GradcheckReport, assert_gradients, gradcheck
from nnfunc.netcheck import assert_network_gradients, check_network
