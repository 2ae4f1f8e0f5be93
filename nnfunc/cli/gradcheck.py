"""``nnfunc gradcheck``: check a random network's gradients from the shell.

Builds a random float64 network with ``nnfunc.init`` and a random batch (x
uniform in [0, 1), uniform random labels), checks the gradients of every
params tensor and of x with ``nnfunc.check_network``, prints the
per-tensor table, and exits 0 when the check passes, 1 when it fails and 2
on bad arguments.
"""

import argparse
import sys

import numpy as np

import nnfunc as nf
from nnfunc import checks, finite, memory
from nnfunc import activations
from nnfunc.activations import parse_spec
from nnfunc.cli import _common
from nnfunc.errors import ConfigError
from nnfunc.initializers import SCHEMES
from nnfunc.losses import l2_penalty
from nnfunc.verify.checker import DEFAULT_EPS, DEFAULT_SAMPLES_PER_TENSOR, MODES, check_eps

# "auto" checks every coordinate up to this many numbers (params + x): a full
# check of 784-25-25-10 with a batch of 8 (26,807 numbers) takes a few seconds.
CLI_MAX_FULL = 50_000
# float64 copies of the network alive at once: the params, the checker's copy,
# the claimed and the input gradients (and check_network's own copy)
NETWORK_COPIES = 6


def build_parser(prog="nnfunc gradcheck"):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check backpropagation of a random network (all params and the input x) "
        "against central differences in float64.",
        formatter_class=_common.DefaultsFormatter,
    )
    add = parser.add_argument
    add("--sizes", required=True, help="layer widths n0,...,nL, comma separated, e.g. 784,25,25,10")
    add("--activation", default="relu",
        help="hidden activation (relu, leaky_relu, sigmoid, tanh, linear), or one per hidden "
        "layer, comma separated")
    add("--l2", type=float, default=0.0, help="L2 strength")
    add("--dropout", type=float, default=0.0,
        help="dropout probability of the hidden units; the masks are drawn from --seed, the "
        "same at every evaluation")
    add("--mode", choices=MODES, default="auto",
        help=f"auto: full up to {CLI_MAX_FULL} numbers, else sample")
    add("--batch", type=int, default=8, help="rows in the random batch")
    add("--seed", type=int, default=0, help="seed of the network, batch and sampling")
    add("--scheme", default="he", help="initialization scheme passed to nnfunc.init")
    add("--eps", type=float, default=DEFAULT_EPS, help="relative step h / max(1, |p|)")
    add("--samples", type=int, default=DEFAULT_SAMPLES_PER_TENSOR,
        help="coordinates per tensor in sample mode")
    return parser


def check(args, parser):
    """The run's sizes, with every flag checked; ConfigError names the flag."""
    try:
        sizes = tuple(int(n) for n in args.sizes.split(","))
    except ValueError:
        raise ConfigError(f"--sizes must be integers separated by commas, got {args.sizes!r}") from None
    checks.sizes(sizes, "--sizes", example="--sizes 784,10")
    try:
        activations.resolve(parse_spec(args.activation), len(sizes) - 2)
    except ConfigError as exc:
        raise ConfigError(f"--activation {args.activation!r} for --sizes {args.sizes!r}: {exc}") from None
    if args.scheme not in SCHEMES:
        raise ConfigError(f"--scheme {args.scheme!r} is unknown; choose one of {', '.join(SCHEMES)}")
    checks.integer(args.batch, "--batch", low=1)
    checks.seed(args.seed, "--seed")
    checks.number(args.l2, "--l2", low=0)
    checks.dropout_rate(args.dropout, "--dropout")
    checks.integer(args.samples, "--samples", low=1)
    check_eps(args.eps, "--eps")
    count = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    # each forward pass keeps a few (batch, width) arrays per layer
    memory.check(8 * (NETWORK_COPIES * count + 4 * args.batch * sum(sizes)),
                  f"checking --sizes {args.sizes} ({count:,} parameters) on --batch {args.batch} rows in float64",
                  "pass smaller --sizes or --batch")
    return sizes


def run(args, parser):
    sizes = check(args, parser)
    rng = np.random.default_rng(args.seed)
    params = nf.init(sizes, rng, scheme=args.scheme, dtype=np.float64)
    # the library would name "l2"; a user of the shell typed --l2
    finite.finite_penalty(l2_penalty(params, len(sizes) - 1, args.l2), args.l2, params, name="--l2")
    x = rng.random((args.batch, sizes[0]))
    y = rng.integers(0, sizes[-1], size=args.batch)
    report = nf.check_network(params, x, y, activation=parse_spec(args.activation), l2=args.l2,
                              dropout=args.dropout, dropout_seed=args.seed, mode=args.mode, eps=args.eps, rng=rng,
                              samples_per_tensor=args.samples, max_full=CLI_MAX_FULL)
    print(f"gradcheck: sizes {'-'.join(map(str, sizes))}, activation {args.activation}, "
          f"l2 {args.l2:g}, dropout {args.dropout:g}, batch {args.batch}, seed {args.seed}, scheme {args.scheme}")
    print(report.format())
    return 0 if report.ok else 1


def main(argv=None, prog="nnfunc gradcheck"):
    """Run the CLI; return the exit code (0 ok, 1 gradients disagree, 2 bad arguments)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    return _common.run(lambda: run(args, parser), memory_fix="pass smaller --sizes, a smaller --batch or --mode "
                       "sample, or use a machine with more memory")


if __name__ == "__main__":
    sys.exit(main())
