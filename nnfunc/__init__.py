"""nnfunc: a from-scratch NumPy MLP library of pure functions.

A network is a plain dict of arrays; ``init``, ``forward``, ``loss``,
``backward``, ``update`` and ``gradcheck`` are pure functions over it.
Importing nnfunc loads NumPy and nnfunc's own math only: no network,
plotting, image or progress-bar code, and none of the command line
(``python -m nnfunc COMMAND``).
"""

from nnfunc._version import __version__

from nnfunc.activations import ACTIVATIONS
from nnfunc.data.augment import Augment, augment
from nnfunc.data.images import load_image
from nnfunc.data.load import Dataset, load_dataset, split_validation
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
from nnfunc.evaluation import Evaluation, evaluate
from nnfunc.initializers import SCHEMES, init
from nnfunc.losses import log_softmax, softmax
from nnfunc.model import backward, forward, input_grad, loss, predict, update, value_and_grad
from nnfunc.onnx import export_onnx
from nnfunc.optim import schedules
from nnfunc.optim.optimizers import Optimizer, adam, adamw, apply_updates, momentum, rmsprop, sgd
from nnfunc.params import Grads, Params, layer_sizes
from nnfunc.training.loop import FitConfig, FitState, TrainData, fit, start_fit
from nnfunc.training.model_file import Model, load, save
from nnfunc.verify.checker import assert_gradients, gradcheck
from nnfunc.verify.network import assert_network_gradients, check_network
from nnfunc.verify.report import GradcheckReport

__all__ = [
    # the network as data, and its pure functions
    "Params", "Grads", "init", "SCHEMES", "ACTIVATIONS", "layer_sizes",
    "forward", "loss", "backward", "value_and_grad", "input_grad", "predict", "update",
    "softmax", "log_softmax",
    # optimizers and schedules
    "Optimizer", "sgd", "momentum", "adam", "adamw", "rmsprop", "apply_updates", "schedules",
    # proving the gradients
    "gradcheck", "assert_gradients", "check_network", "assert_network_gradients", "GradcheckReport",
    # data
    "Dataset", "load_dataset", "split_validation", "load_image", "Augment", "augment",
    # training, evaluation, trained models
    "fit", "start_fit", "FitConfig", "FitState", "TrainData", "evaluate", "Evaluation",
    "save", "load", "Model",
    # other ecosystems (nnfunc.sklearn.MLPClassifier is imported from its module)
    "export_onnx",
    # errors
    "NnfuncError", "InputError", "ConfigError", "ParamsError", "DataError", "DataNotFoundError",
    "CheckpointError", "DivergenceError", "GradientMismatchError",
]
