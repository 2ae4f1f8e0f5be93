"""Initialization schemes told apart by their statistics: variance by family,
shape of the distribution by kind (normal or uniform), bounds, and the rng."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnfunc as nf
from nnfunc.errors import ConfigError
from nnfunc.checks import generator as as_generator, sizes as check_sizes

N_IN, N_OUT = 400, 300  # not square, so fan_in, fan_out and their mean all differ
VARIANCE = {"he": 2 / N_IN, "xavier": 2 / (N_IN + N_OUT), "glorot": 2 / (N_IN + N_OUT), "lecun": 1 / N_IN}


def excess_kurtosis(w):
    w = w - w.mean()
    return float(np.mean(w**4) / np.mean(w**2) ** 2 - 3)


@pytest.mark.parametrize("scheme", nf.SCHEMES)
def test_each_scheme_has_its_variance_and_its_distribution(scheme):
    family, _, kind = scheme.partition("_")
    W = nf.init((N_IN, N_OUT), 0, scheme=scheme, dtype=np.float64)["W1"]
    variance = VARIANCE[family]
    # 120,000 draws: the sample variance is within 5 standard errors (2%)
    np.testing.assert_allclose(W.var(), variance, rtol=0.02)
    assert abs(W.mean()) < 5 * np.sqrt(variance / W.size)
    limit = np.sqrt(3 * variance)
    if kind == "uniform":
        # uniform on [-a, a]: excess kurtosis -1.2, and it fills the interval
        assert excess_kurtosis(W) == pytest.approx(-1.2, abs=0.05)
        assert np.abs(W).max() <= limit and np.abs(W).max() > 0.999 * limit
        assert W.min() < -0.999 * limit
    else:
        # normal: excess kurtosis 0, and 8% of draws lie beyond sqrt(3) standard deviations
        assert excess_kurtosis(W) == pytest.approx(0.0, abs=0.1)
        assert np.mean(np.abs(W) > limit) == pytest.approx(0.0833, abs=0.005)


def test_scheme_names_and_aliases():
    a = nf.init((30, 20, 10), 1, scheme="xavier")
    assert_same = [("he", "he_normal"), ("xavier", "glorot"), ("xavier_uniform", "glorot_uniform"),
                   ("lecun", "lecun_normal"), ("xavier_normal", "glorot_normal")]
    for one, other in assert_same:
        x, y = nf.init((30, 20, 10), 1, scheme=one), nf.init((30, 20, 10), 1, scheme=other)
        assert all(np.array_equal(x[k], y[k]) for k in x), (one, other)
    assert not np.array_equal(a["W1"], nf.init((30, 20, 10), 1, scheme="he")["W1"])
    assert len(set(nf.SCHEMES)) == 12
    assert nf.init((3, 2), 0)["W1"].dtype == np.float32  # default float32, default he
    assert np.array_equal(nf.init((3, 2), 0)["W1"], nf.init((3, 2), 0, scheme="he_normal")["W1"])


@pytest.mark.parametrize("scheme", ["he", "xavier_uniform", "lecun"])
def test_every_layer_gets_its_own_fans(scheme):
    family, _, _ = scheme.partition("_")
    sizes = (500, 200, 800, 10)
    params = nf.init(sizes, 3, scheme=scheme, dtype=np.float64)
    for l in range(1, 4):
        n_in, n_out = sizes[l - 1], sizes[l]
        expected = {"he": 2 / n_in, "xavier": 2 / (n_in + n_out), "lecun": 1 / n_in}[family]
        np.testing.assert_allclose(params[f"W{l}"].var(), expected, rtol=0.1)
        assert params[f"b{l}"].shape == (n_out,) and not params[f"b{l}"].any()
    # layers are independent draws, not one matrix reused
    assert not np.array_equal(params["W1"][:200, :200], params["W2"][:, :200])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32"])
def test_dtype_is_honoured(dtype):
    params = nf.init((5, 4, 3), 0, dtype=dtype)
    assert all(v.dtype == np.dtype(dtype) for v in params.values())
    for bad in (np.float16, np.int64, "int32"):
        with pytest.raises(ConfigError, match="float32 or float64"):
            nf.init((5, 3), 0, dtype=bad)


@given(st.integers(0, 2**63 - 1))
def test_as_generator_takes_a_seed_or_a_generator(seed):
    gen = np.random.default_rng(seed)
    assert as_generator(gen) is gen
    assert as_generator(np.int64(seed % 2**62)).random() == np.random.default_rng(seed % 2**62).random()
    assert as_generator(seed).random() == np.random.default_rng(seed).random()


@pytest.mark.parametrize("bad", [None, True, 1.5, "0", np.random.RandomState(0)])
def test_as_generator_refuses_everything_else(bad):
    with pytest.raises(ConfigError, match="numpy Generator or an int seed"):
        as_generator(bad)


def test_as_generator_names_a_negative_seed():
    with pytest.raises(ConfigError, match=r"rng seed must be an integer >= 0, got -1; pass a seed like .*0$"):
        as_generator(-1)


def test_check_sizes():
    assert check_sizes([784, np.int64(25), 10]) == (784, 25, 10)
    assert all(type(n) is int for n in check_sizes([np.int32(3), 2]))
    assert check_sizes((1, 1)) == (1, 1)
    for bad, words in ((5, "sequence of widths"), ((3,), "at least an input and an output"),
                       ((3, True), "int >= 1"), ((3, 0), "int >= 1"), ((3, "4"), "int >= 1")):
        with pytest.raises(ConfigError, match=words):
            check_sizes(bad)
