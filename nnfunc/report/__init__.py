"""Reports of a trained network: metrics as numbers and text (``metrics``), and PNGs (``curves``, ``pictures``; the only matplotlib code, drawn through ``_canvas``)."""
