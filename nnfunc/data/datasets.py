"""Dataset specs: each dataset's four IDX files, their checksums and sizes, mirrors and class names."""

from typing import NamedTuple

from nnfunc.errors import ConfigError

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Small label files first, so a broken one is reported before 47 MB are hashed.
CHECK_ORDER = (STEMS[3], STEMS[1], STEMS[2], STEMS[0])
IMAGE_SIDE = 28


def idx_sizes(n_train, n_test):
    """The exact size in bytes of each uncompressed IDX file of a dataset with these split sizes.

    An IDX file is a 4-byte magic number, one 4-byte count per dimension,
    then one byte per uint8 value: images (m, 28, 28) take 16 + m*28*28
    bytes, labels (m,) take 8 + m.

    Returns:
        {stem: int} for the four STEMS.
    """
    sizes = {}
    for split, m in (("train", n_train), ("t10k", n_test)):
        sizes[f"{split}-images-idx3-ubyte"] = 16 + m * IMAGE_SIDE * IMAGE_SIDE
        sizes[f"{split}-labels-idx1-ubyte"] = 8 + m
    return sizes


def idx_shape(stem, size):
    """The array an IDX file ``stem`` of ``size`` bytes holds: (m, 28, 28) images or (m,) labels, uint8."""
    if "-images-" in stem:
        return ((size - 16) // (IMAGE_SIDE * IMAGE_SIDE), IMAGE_SIDE, IMAGE_SIDE)
    return (size - 8,)


class DatasetSpec(NamedTuple):
    """What identifies a dataset: checksums and sizes, mirrors, class names, system dirs.

    ``sha256`` and ``sizes`` map each stem to the hex SHA-256 and the exact
    byte count of its uncompressed IDX file; the sizes bound how much work
    reading any file (a decompression bomb included) may cost.
    """

    sha256: dict
    sizes: dict
    mirrors: tuple
    class_names: tuple
    system_dirs: tuple


SPECS = {
    "mnist": DatasetSpec(
        sha256=dict(zip(STEMS, (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"))),
        sizes=idx_sizes(60000, 10000),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        class_names=tuple(str(d) for d in range(10)),
        system_dirs=(),
    ),
    "fashion-mnist": DatasetSpec(
        sha256=dict(zip(STEMS, (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"))),
        sizes=idx_sizes(60000, 10000),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        system_dirs=(("Debian package dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),),
    ),
}


def check_mirrors(mirrors):
    """Validate a mirror list and return it as a tuple of base URLs.

    Raises:
        ConfigError: a bare string, an empty list, or a non-http(s) URL.
    """
    if isinstance(mirrors, (str, bytes)) or not hasattr(mirrors, "__iter__"):
        raise ConfigError(f"mirrors must be a list of base URLs, got {mirrors!r}; wrap a single URL in a list")
    mirrors = tuple(mirrors)
    if not mirrors:
        raise ConfigError("mirrors is empty; give at least one base URL or leave mirrors=None for the defaults")
    for url in mirrors:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"mirror {url!r} is not an http:// or https:// URL; fix or drop it")
    return mirrors
