"""Data: dataset specs, IDX files, downloads, the loaded arrays, a user's images.

``datasets`` names the files and their checksums; ``idx`` reads and checks
them; ``download`` fetches them (the only network code, imported on demand);
``load`` finds a verified source, caches, splits and subsets; ``images``
turns a user's image into a model input row.
"""
