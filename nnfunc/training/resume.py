"""The rules of resuming a run: what may continue, and a run stopped after its last epoch.

A resume that could not change anything is refused with the reason and
the fix; one whose every epoch is done but whose test result is missing
(it was stopped during its test evaluation or its plots) only finishes.
"""

from nnfunc.errors import CheckpointError, ConfigError
from nnfunc.training import loop, runlog


def tested(run_dir):
    """Whether ``run_dir``'s metrics.json holds its test result (written last, after the plots)."""
    try:
        return runlog.read_metrics(run_dir)["test"] is not None
    except ValueError:  # no metrics.json, or a damaged one: the run's ending is still to do
        return False


def check(out, state, opt, config, fit_config, steps_per_epoch, *, tested=True):
    """Refuse a resume that could not change anything; return whether only the run's ending is left.

    A run stopped after its last epoch (during its test evaluation or its
    plots) has every epoch but no test result: resuming it with its own
    ``--epochs`` finishes it.
    """
    if state.step != state.epoch * steps_per_epoch:
        raise CheckpointError(f"{out / 'model.npz'} has taken {state.step} steps in {state.epoch} epochs of "
                              f"{steps_per_epoch}; the file is damaged (or its data changed): train a new run, or "
                              "resume from another copy")
    if not tested and (config["epochs"] == state.epoch or loop.stopped_early(state, fit_config)):
        return True
    if config["epochs"] <= state.epoch:
        raise ConfigError(f"{out} has already trained {state.epoch} epochs; pass --epochs above {state.epoch} "
                          "to train more")
    if loop.stopped_early(state, fit_config):
        raise ConfigError(f"{out} stopped early at epoch {state.epoch} (no lower validation loss for "
                          f"{config['patience']} epochs); it would stop again at once. Start a new run instead")
    _check_schedule_left(out, state, opt, config, steps_per_epoch)
    return False


def _check_schedule_left(out, state, opt, config, steps_per_epoch):
    """Refuse epochs whose learning rate is 0: they would change nothing."""
    horizon = config["decay_epochs"] * steps_per_epoch
    if config["epochs"] > config["decay_epochs"] and opt.schedule(horizon) == 0:
        last = config["decay_epochs"]
        why = (f"{out}'s learning rate is 0 from epoch {last + 1} on ({config['schedule']} schedule, --lr "
               f"{config['lr']:g}), so epochs after {last} would change nothing.")
        if config["lr"] == 0:
            todo = "Start a new run with a learning rate above 0"
        elif state.epoch < last:
            todo = (f"Resume with --epochs {last} at most, or start a new run with --epochs {config['epochs']} "
                    f"(its schedule then decays over all {config['epochs']} epochs)")
        else:
            todo = (f"It has finished its schedule; start a new run with --epochs {config['epochs']} "
                    f"(its schedule then decays over all {config['epochs']} epochs)")
        raise ConfigError(f"{why} {todo}")
