"""Reports of a trained network: metrics as numbers and text, and the PNG plots (the only matplotlib code)."""
