"""The network as an ONNX graph: ``export_onnx`` writes a file that onnxruntime (or any ONNX runtime) runs.

Needs the [onnx] extra (``pip install "nnfunc[onnx]"``); onnx is imported
inside ``export_onnx`` only, so ``import nnfunc`` never loads it.

The graph is the forward pass, one standard operator per step:

    x: (batch, n0) float32
    -> Gemm(x, W1, b1) -> activation -> ... -> Gemm(., WL, bL)  = logits
    -> Softmax(axis=1)  = "probabilities": (batch, nL) float32
    -> ArgMax(logits)   = "label": (batch,) int64, the class index

for the default softmax output. The other output layers (``nnfunc.outputs``)
end in Sigmoid = "probabilities" and Cast(logits > 0) = "label", (batch, nL)
int64 labels 0/1 (logistic), or in "predictions" (batch, nL) float32:
Identity (identity) or Exp (exp) of the logits.

Operator set 17 (IR version 8), which onnxruntime has run since 1.12.
Weights are stored in float32 (float64 params are rounded). The input is
what ``nnfunc.forward`` takes: for MNIST, pixels scaled to [0, 1].
"""

import json
import os
from pathlib import Path

import numpy as np

from nnfunc import activations as _activations
from nnfunc import finite
from nnfunc import outputs as _outputs
from nnfunc._version import __version__
from nnfunc.errors import ConfigError, ParamsError, shown
from nnfunc.fileio import write_bytes
from nnfunc.checks import validate_params
from nnfunc.params import layer_sizes, param_keys
from nnfunc.subnormals import flush

OPSET = 17
IR_VERSION = 8  # the IR of opset 17: runtimes that know the opset read the file
INSTALL = 'pip install "nnfunc[onnx]" (or pip install onnx)'
# nnfunc's activation name -> (ONNX operator, its attributes); linear needs no node
_OPERATORS = {
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": _activations.LEAKY_SLOPE}),
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "linear": (None, {}),
}


def export_onnx(params, path, *, activation, classes=None, output="softmax"):
    """Write the network as an ONNX model file, atomically; return its Path.

    Args:
        params: Params of L layers (float32 or float64, all finite).
        path: the file to write (``.onnx`` by convention); its directory is created.
        activation: the hidden activation spec the params were trained with,
            one name or one per hidden layer (as for ``nnfunc.forward``).
        classes: None, or nL class names (a list, tuple or 1-D array; each
            stored as its str), kept in the file's metadata.
        output: the output layer the params were trained with: softmax,
            logistic, identity or exp.

    Returns:
        The Path written. The model has input "x" (batch, n0) float32 and,
        for softmax, outputs "probabilities" (batch, nL) float32 and "label"
        (batch,) int64 (other outputs: the module docstring); its metadata
        holds the activation, the output, the sizes, the classes and the
        nnfunc version. onnx's checker has passed it.

    Raises:
        ParamsError, ConfigError: bad params, activation or classes.
        ModuleNotFoundError: onnx is not installed (the message says what to install).
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ConfigError(f"path must be a file name (str or pathlib.Path), got {shown(path)}")
    path = Path(path)
    L = validate_params(params)
    acts = _activations.resolve(activation, L - 1)
    output = _outputs.get(output).name
    keys = param_keys(L)
    finite.finite_arrays(params, keys, "params", "export the params of an epoch before the run diverged")
    n_out = params[f"W{L}"].shape[1]
    if classes is not None:  # a list, a tuple or a 1-D array (an estimator's classes_)
        if not isinstance(classes, (list, tuple, np.ndarray)) or np.ndim(classes) != 1 or len(classes) != n_out:
            raise ConfigError(f"classes must be a list of {n_out} names, one per output unit, got {shown(classes)}")
        classes = [str(c) for c in np.asarray(classes).tolist()]
    too_big = next((k for k in keys if finite.largest(params[k]) > float(np.finfo(np.float32).max)), None)
    if too_big is not None:
        raise ParamsError(f"params[{too_big!r}] holds a value beyond float32's range; the ONNX graph stores float32")
    try:
        import onnx
    except ImportError as exc:
        raise ModuleNotFoundError(f"export_onnx needs onnx ({exc}): {INSTALL}", name="onnx") from exc
    model = _model(onnx, params, L, [a.name for a in acts], classes, output)
    onnx.checker.check_model(model, full_check=True)
    write_bytes(path, model.SerializeToString())
    return path


def _model(onnx, params, L, names, classes, output):
    """The onnx.ModelProto of the forward pass."""
    helper, floats = onnx.helper, onnx.TensorProto.FLOAT
    sizes = layer_sizes(params)
    weights, nodes, h = [], [], "x"
    for l in range(1, L + 1):
        for key in (f"W{l}", f"b{l}"):
            # float32 as the graph takes it, flushed: float64 params below 1.2e-38 would be float32 subnormals
            weights.append(onnx.numpy_helper.from_array(flush(np.array(params[key], dtype=np.float32)), key))
        z = "logits" if l == L else f"z{l}"
        nodes.append(helper.make_node("Gemm", [h, f"W{l}", f"b{l}"], [z], name=f"layer{l}"))
        h = z
        if l < L:
            op, attributes = _OPERATORS[names[l - 1]]
            if op is not None:
                h = f"a{l}"
                nodes.append(helper.make_node(op, [z], [h], name=f"{names[l - 1]}{l}", **attributes))
    nodes += _output_nodes(onnx, output, weights)
    if output in ("softmax", "logistic"):
        label = ["batch"] if output == "softmax" else ["batch", sizes[-1]]
        results = [helper.make_tensor_value_info("probabilities", floats, ["batch", sizes[-1]]),
                   helper.make_tensor_value_info("label", onnx.TensorProto.INT64, label)]
    else:
        results = [helper.make_tensor_value_info("predictions", floats, ["batch", sizes[-1]])]
    graph = helper.make_graph(nodes, "nnfunc_mlp", [helper.make_tensor_value_info("x", floats, ["batch", sizes[0]])],
                              results, initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nnfunc",
                              producer_version=__version__, ir_version=IR_VERSION,
                              doc_string=f"nnfunc MLP {'-'.join(map(str, sizes))}, hidden activation "
                                         f"{','.join(names) or 'none'}; input pixels scaled to [0, 1]")
    metadata = {"activation": json.dumps(names), "output": json.dumps(output), "sizes": json.dumps(list(sizes))}
    if classes is not None:
        metadata["classes"] = json.dumps(classes)
    helper.set_model_props(model, metadata)
    return model


def _output_nodes(onnx, output, weights):
    """The nodes from "logits" to the graph's outputs (see the module docstring); constants go into weights."""
    node = onnx.helper.make_node
    if output == "softmax":
        return [node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
                node("ArgMax", ["logits"], ["label"], name="argmax", axis=1, keepdims=0)]
    if output == "logistic":
        weights.append(onnx.numpy_helper.from_array(np.zeros((), dtype=np.float32), "zero"))
        return [node("Sigmoid", ["logits"], ["probabilities"], name="sigmoid"),
                node("Greater", ["logits", "zero"], ["positive"], name="positive"),
                node("Cast", ["positive"], ["label"], name="label", to=onnx.TensorProto.INT64)]
    return [node("Identity" if output == "identity" else "Exp", ["logits"], ["predictions"], name=output)]
