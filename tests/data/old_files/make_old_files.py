"""Write the files of this directory as nnfunc 0.3.0 wrote them (one shared ``format_version``).

Run once with the code of commit 909fe43 on the path, e.g.
``git archive 909fe43 nnfunc | tar -x -C /tmp/old && PYTHONPATH=/tmp/old python tests/data/old_files/make_old_files.py``.
The tests only read the files; this script records how they were made.
"""

import sys
from pathlib import Path

import numpy as np

import nnfunc as nf
from nnfunc.training import checkpoint
from nnfunc.training import loop as fit

HERE = Path(__file__).resolve().parent
assert "format_version" in Path(checkpoint.__file__).read_text(), "run this with nnfunc 0.3.0's code"

rng = np.random.default_rng(0)
x = rng.integers(0, 256, size=(120, 12), dtype=np.uint8)
y = x[:, :3].argmax(axis=1).astype(np.int64)
data = fit.TrainData(x[:90], y[:90], x[90:], y[90:])
opt = nf.adam(1e-2)
state = fit.start_fit(nf.init((12, 8, 3), 0), opt, 5)
state = fit.fit(state, opt, data, fit.FitConfig(epochs=2, batch_size=16, activation="relu", dropout=0.1))
config = {"activation": "relu", "optimizer": "adam", "lr": 0.01, "seed": 5, "epochs": 2, "batch_size": 16}
checkpoint.save(HERE / "checkpoint.npz", state, config, "mnist")
nf.save(HERE / "model.npz", nf.init((12, 8, 6, 3), 1), activation=["relu", "tanh"], classes=["a", "b", "c"],
        dataset="mnist")
print("wrote", sorted(p.name for p in HERE.glob("*.npz")), "with nnfunc", nf.__version__, file=sys.stderr)
