"""Training: the loop (``loop``) and its in-place step (``_step``), the run's seeds, checkpoints, the run directory's files, and model files (``model_file``)."""
