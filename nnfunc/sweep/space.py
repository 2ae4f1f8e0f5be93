"""A sweep's search space: parsed from ``--search KEY=SPEC`` flags or a TOML file, and checked whole.

A space maps train settings (``DEFAULTS`` keys of ``nnfunc train``) to a
``Dimension``: a range ``LOW..HIGH`` (``:log`` for log-uniform) or a choice
``A|B|C``. Every trial shares the fixed train flags. ``check`` builds the
corner configs of the space (each bound and each choice, with the fixed
flags) and runs ``nnfunc train``'s own checks on them, so a bad space fails
before any worker starts. Only plain Python here: the search library sees
the space through ``nnfunc.sweep.store``.
"""

import itertools
import math
import tomllib
from typing import NamedTuple, Optional

from nnfunc import checks
from nnfunc.training.flags import raising_parser, settings_of
from nnfunc.training.settings import DEFAULTS, check_config, flag, make_config
from nnfunc.errors import ConfigError, shown

FLOATS = ("lr", "warmup_epochs", "l2", "dropout", "rotate", "scale", "shear", "shift", "elastic_alpha",
          "elastic_sigma")
INTS = ("epochs", "batch_size", "patience", "decay_epochs")
STRINGS = ("hidden", "activation", "init", "optimizer", "schedule", "augment", "dtype")
SEARCHABLE = FLOATS + INTS + STRINGS
# the sweep owns these train flags: every trial gets its own run directory, from scratch
OWNED = ("out", "resume", "gradcheck", "quiet", "no_plots")
# the same data and seed for every trial, so trials differ only in what is searched
SHARED = ("seed", "dataset", "train_size", "test_size", "val_size", "data_dir", "offline")


class Dimension(NamedTuple):
    """One searched setting: ``choices`` (a tuple) or a ``low``..``high`` range (``log``: log-uniform)."""

    key: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: Optional[tuple] = None

    @property
    def is_int(self):
        return self.key in INTS



def _key(name, where):
    key = name.strip().replace("-", "_").lstrip("_")
    if key in SEARCHABLE:
        return key
    if key in SHARED or key in OWNED:
        why = ("every trial shares it; set it among the train flags after --" if key in SHARED
               else "the sweep sets it for each trial")
        raise ConfigError(f"{where}: {flag(key)} cannot be searched ({why})")
    raise ConfigError(f"{where}: {shown(name)} is not a train setting that can be searched; choose among "
                      f"{', '.join(SEARCHABLE)}")


def _value(key, text, where):
    """A choice or bound as the setting's type: int, float or str."""
    if key in STRINGS:
        if isinstance(text, str) or (isinstance(text, int) and not isinstance(text, bool)):  # hidden = [128, 256] in TOML means "128", "256"
            return str(text)
        raise ConfigError(f"{where}: the choice {shown(text)} must be a string (quote it, like \"256,256\")")
    if isinstance(text, bool) or (key in INTS and isinstance(text, float) and not text.is_integer()):
        raise ConfigError(f"{where}: {shown(text)} is not {'an integer' if key in INTS else 'a number'}")
    try:
        number = int(text) if key in INTS else float(text)
    except (TypeError, ValueError):
        kind = "an integer" if key in INTS else "a number"
        raise ConfigError(f"{where}: {shown(text)} is not {kind}") from None
    if not checks.is_finite(number):
        raise ConfigError(f"{where}: {shown(text)} is not a finite number")
    return number


def dimension(key, *, low=None, high=None, log=False, choices=None, where=None):
    """A checked Dimension; ConfigError names ``where`` (the flag or file entry) and the fix."""
    where = where or f"--search {key}"
    key = _key(key, where)
    if choices is not None:
        if low is not None or high is not None or log:
            raise ConfigError(f"{where}: give either choices or a low..high range, not both")
        if isinstance(choices, (str, bytes)) or not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(f"{where}: choices must be a non-empty list like [64, 128]")
        values = tuple(_value(key, c, where) for c in choices)
        if len(values) == 1:
            raise ConfigError(f"{where}: one value is not a search; set it among the train flags ({flag(key)} "
                              f"{values[0]} after --), or list more values like {key}=A|B")
        if len(set(values)) != len(values):
            raise ConfigError(f"{where}: the choices {shown(list(values))} repeat a value; list each once")
        return Dimension(key, choices=values)
    if key in STRINGS:
        raise ConfigError(f"{where}: {flag(key)} is not a number; search it as choices, like {key}=A|B")
    if low is None or high is None:
        raise ConfigError(f"{where}: a range needs both ends, like {key}=LOW..HIGH")
    low, high = _value(key, low, where), _value(key, high, where)
    if not low < high:
        raise ConfigError(f"{where}: the range {low:g}..{high:g} is empty; the low end must be below the high end")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs a low end above 0, got {low:g}; use a range without :log")
    return Dimension(key, low, high, bool(log))


def parse_flag(text):
    """``KEY=LOW..HIGH``, ``KEY=LOW..HIGH:log`` or ``KEY=A|B|C`` -> Dimension."""
    where = f"--search {shown(text, quote=False)}"
    key, eq, spec = text.partition("=")
    if not eq or not key.strip() or not spec.strip():
        raise ConfigError(f"{where}: write KEY=LOW..HIGH, KEY=LOW..HIGH:log or KEY=A|B|C, like lr=1e-4..1e-2:log")
    spec = spec.strip()
    if "|" not in spec and ".." in spec:
        body, colon, scale = spec.partition(":")
        if colon and scale != "log":
            raise ConfigError(f"{where}: the only range scale is :log, got :{shown(scale, quote=False)}")
        low, _, high = body.partition("..")
        return dimension(key, low=low.strip(), high=high.strip(), log=bool(colon), where=where)
    return dimension(key, choices=[c.strip() for c in spec.split("|")], where=where)


def read_file(path):
    """(space as {key: Dimension}, fixed train flags as an argv list) from a TOML file.

    The file has a ``[search]`` table (``lr = {low = 1e-4, high = 1e-2,
    log = true}``, ``hidden = ["128", "256,256"]``) and an optional
    ``[train]`` table of settings every trial shares (``epochs = 10``).
    """
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the search space file {path} ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); see README's sweep section for the format") from None
    unknown = sorted(set(doc) - {"search", "train"})
    if unknown:
        raise ConfigError(f"{path} has the table {shown(unknown[0])}; a search space file has [search] and [train]")
    search, fixed = doc.get("search", {}), doc.get("train", {})
    if not isinstance(search, dict) or not isinstance(fixed, dict):
        raise ConfigError(f"{path}: [search] and [train] must be tables")
    space = {}
    for name, spec in search.items():
        where = f"{path} [search] {name}"
        if isinstance(spec, list):
            dim = dimension(name, choices=spec, where=where)
        elif isinstance(spec, dict):
            extra = sorted(set(spec) - {"low", "high", "log"})
            if extra:
                raise ConfigError(f"{where}: unknown field {shown(extra[0])}; a range has low, high and log")
            if not isinstance(spec.get("log", False), bool):
                raise ConfigError(f"{where}: log must be true or false")
            dim = dimension(name, low=spec.get("low"), high=spec.get("high"), log=spec.get("log", False), where=where)
        else:
            raise ConfigError(f"{where}: write a list of choices or {{low = .., high = .., log = true}}")
        space[dim.key] = dim
    argv = []
    for name, value in fixed.items():
        if isinstance(value, bool):
            if value:
                argv.append(flag(name))
        elif isinstance(value, (int, float, str)):
            argv += [flag(name), str(value)]
        else:
            raise ConfigError(f"{path} [train] {name}: give a number, a string or true")
    return space, argv


def merge(file_space, flags):
    """The file's space with the ``--search`` flags' Dimensions added (a flag replaces the file's entry).

    A setting given by two ``--search`` flags is refused: one would be lost.
    """
    space = dict(file_space)
    seen = set()
    for dim in flags:
        if dim.key in seen:
            raise ConfigError(f"--search {dim.key} is given twice; keep one (for several values: {dim.key}=A|B|C)")
        seen.add(dim.key)
        space[dim.key] = dim
    return space


FIXED = "the train flags (after -- or in [train])"


def fixed_args(argv):
    """The fixed train flags, parsed by ``nnfunc train``'s own parser; refuse those the sweep owns."""
    args, rest = raising_parser(FIXED).parse_known_args(argv)
    if rest:
        raise ConfigError(f"{FIXED}: {shown(' '.join(rest), quote=False)} is not a flag of nnfunc train; see "
                          "nnfunc train --help")
    for key in OWNED:
        if getattr(args, key):
            raise ConfigError(f"{flag(key)} in {FIXED} is the sweep's own business (each trial is a new run in the "
                              "sweep directory); drop it")
    return args


def trial_argv(fixed, values):
    """The train flags of one trial: the fixed flags, then the searched values (``repr``: exact floats)."""
    argv = list(fixed)
    for key, value in sorted(values.items()):
        argv += [flag(key), repr(value) if isinstance(value, float) else str(value)]
    return argv


MAX_COMBINATIONS = 512  # the choice settings are checked in every combination up to this many


def corners(space):
    """Value sets a check covers: every combination of the choices (or, past MAX_COMBINATIONS, each choice
    with the others' first), each with every range at its low and at its high end."""
    choices = {k: d.choices for k, d in space.items() if d.choices is not None}
    ranges = {k: d for k, d in space.items() if d.choices is None}
    if math.prod(len(c) for c in choices.values()) <= MAX_COMBINATIONS:
        picks = [dict(zip(choices, combo)) for combo in itertools.product(*choices.values())]
    else:
        first = {k: c[0] for k, c in choices.items()}
        picks = [first, *({**first, k: v} for k, c in choices.items() for v in c[1:])]
    for pick in picks:
        for end in ("low", "high"):
            yield {**pick, **{k: getattr(d, end) for k, d in ranges.items()}}


def first_trial(space, fixed):
    """Parsed train flags of the space's first corner (the data settings are the same for every trial)."""
    return raising_parser(FIXED).parse_args(trial_argv(fixed, next(corners(space))))


def check(space, fixed):
    """Raise ConfigError unless every trial of ``space`` with the ``fixed`` train flags is a valid run.

    Checks ``corners`` (each bound, and the choices in combination) with
    ``nnfunc train``'s own config checks; the message names the searched
    values that break.
    """
    if not space:
        raise ConfigError("the search space is empty; add --search KEY=SPEC flags (like --search lr=1e-4..1e-2:log) "
                          "or a --space file")
    base = fixed_args(fixed)
    clash = sorted(k for k in space if getattr(base, k) is not None)
    if clash:
        raise ConfigError(f"{flag(clash[0])} is both searched and fixed in {FIXED}; keep one")
    for values in corners(space):
        shown_values = ", ".join(f"{k}={v}" for k, v in values.items())
        try:
            config = make_config(settings_of(raising_parser(f"the search space makes a bad run ({shown_values})")
                                             .parse_args(trial_argv(fixed, values))))
            check_config(config)
        except ConfigError as exc:
            if str(exc).startswith("the search space"):
                raise
            raise ConfigError(f"the search space makes a bad run ({shown_values}): {exc}") from None
        if not config["val_size"]:
            raise ConfigError("a sweep ranks trials by their validation loss; keep --val-size above 0")
    return space


def as_dict(space):
    """The space as JSON-ready data (for sweep.json)."""
    return {k: ({"choices": list(d.choices)} if d.choices is not None else {"low": d.low, "high": d.high,
                                                                              "log": d.log})
            for k, d in sorted(space.items())}


def epochs_of(fixed, values):
    """How many epochs a trial trains (unless its patience stops it sooner)."""
    if "epochs" in values:
        return values["epochs"]
    given = fixed_args(fixed).epochs
    return DEFAULTS["epochs"] if given is None else given
