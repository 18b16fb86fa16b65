"""Built-in data: generated sets (banknote-like, xor, spiral; moons and circles from scikit-learn) and the
real ones scikit-learn ships (digits, breast-cancer, iris, wine): no download."""

from __future__ import annotations

import math

import numpy as np

# Per-class statistics of the UCI banknote-authentication data (features: variance, skewness, curtosis,
# entropy of the wavelet-transformed image).
_BANKNOTE_COUNTS = (762, 610)
_BANKNOTE_MEANS = ((2.277, 4.257, 0.797, -1.148), (-1.868, -0.994, 2.148, -1.247))
_BANKNOTE_STDS = ((2.018, 5.135, 3.238, 2.124), (1.880, 5.400, 5.257, 2.069))
_BANKNOTE_FEATURES = ("variance", "skewness", "curtosis", "entropy")
_GENERATOR_SEED = 20240117  # fixed: the built-in data never changes between runs or machines
_N_2D = 1000


def banknote_like() -> tuple[np.ndarray, np.ndarray]:
    """The default data: Gaussians with the real banknote data's per-class means and stds."""
    rng = np.random.default_rng(_GENERATOR_SEED)
    xs, ys = [], []
    for cls, count in enumerate(_BANKNOTE_COUNTS):
        xs.append(rng.normal(_BANKNOTE_MEANS[cls], _BANKNOTE_STDS[cls], size=(count, 4)))
        ys.append(np.full(count, cls))
    return np.concatenate(xs), np.concatenate(ys)


def moons() -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (scikit-learn's make_moons)."""
    from sklearn.datasets import make_moons

    return make_moons(_N_2D, noise=0.15, random_state=_GENERATOR_SEED + 1)


def circles() -> tuple[np.ndarray, np.ndarray]:
    """A small circle inside a large one (scikit-learn's make_circles)."""
    from sklearn.datasets import make_circles

    return make_circles(_N_2D, noise=0.08, factor=0.5, random_state=_GENERATOR_SEED + 2)


def xor(n: int = _N_2D) -> tuple[np.ndarray, np.ndarray]:
    """Points in a square, labelled by whether x and y have the same sign."""
    rng = np.random.default_rng(_GENERATOR_SEED + 3)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(int)


def spiral(n: int = _N_2D, noise: float = 0.2, turns: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms."""
    rng = np.random.default_rng(_GENERATOR_SEED + 4)
    n0 = n // 2
    xs = []
    for arm, count in enumerate((n0, n - n0)):
        t = np.linspace(0.25, 1.0, count) * turns * 2 * math.pi
        r = t / (turns * 2 * math.pi) * 3
        phase = arm * math.pi
        xs.append(np.c_[r * np.cos(t + phase), r * np.sin(t + phase)])
    x = np.concatenate(xs)
    return x + rng.normal(0, noise * 0.5, x.shape), np.r_[np.zeros(n0, int), np.ones(n - n0, int)]


_GENERATORS = {"banknote-like": banknote_like, "moons": moons, "circles": circles, "xor": xor, "spiral": spiral}


def _sklearn_set(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """A data set that scikit-learn ships (no download): x, y, feature names, class names."""
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "breast-cancer": datasets.load_breast_cancer,
              "iris": datasets.load_iris, "wine": datasets.load_wine}[name]
    bunch = loader()
    if name == "digits":
        return bunch.images[:, None], bunch.target, (), tuple(str(c) for c in bunch.target_names)
    return bunch.data, bunch.target, tuple(map(str, bunch.feature_names)), tuple(map(str, bunch.target_names))


def load_builtin(name: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """x, class indices, feature names and class names of a built-in data set."""
    if name in _GENERATORS:
        x, y = _GENERATORS[name]()
        return x, y.astype(np.int64), _BANKNOTE_FEATURES if name == "banknote-like" else ("x", "y"), ("0", "1")
    return _sklearn_set(name)
