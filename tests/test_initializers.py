"""The initializer catalog: Keras 3 semantics checked statistically on a large weight, and spec parsing."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from initdash.errors import UserError
from initdash.initializers import (
    ALIASES,
    CATALOG,
    DEFAULT_INITIALIZERS,
    TRUNCATION_STD_CORRECTION,
    InitSpec,
    catalog_lines,
    init_weight,
    known_names,
    parse_list,
    parse_spec,
)

# torch's Linear weight is (out, in): this is a layer with fan_in 500 and fan_out 2000; 1e6 draws.
OUT, IN = 2000, 500
FAN_AVG = (IN + OUT) / 2


@functools.lru_cache(maxsize=8)  # the large draws are shared between tests; nobody modifies them
def draw(text: str, shape: tuple[int, int] = (OUT, IN), seed: int = 0) -> torch.Tensor:
    w = torch.empty(*shape)
    init_weight(parse_spec(text), w, torch.Generator().manual_seed(seed))
    return w.double()


def assert_uniform(w: torch.Tensor, low: float, high: float) -> None:
    """U(low, high): inside the bounds, reaching close to both, with the right mean and std."""
    span = high - low
    assert w.min().item() >= low and w.max().item() <= high
    assert w.min().item() < low + 1e-3 * span and w.max().item() > high - 1e-3 * span
    assert w.mean().item() == pytest.approx((low + high) / 2, abs=0.005 * span)
    assert w.std().item() == pytest.approx(span / math.sqrt(12), rel=0.01)


def assert_normal(w: torch.Tensor, std: float, mean: float = 0.0) -> None:
    """N(mean, std), not truncated: right moments, and tails well past 2 std."""
    assert w.mean().item() == pytest.approx(mean, abs=0.01 * std)
    assert w.std().item() == pytest.approx(std, rel=0.01)
    # With 1e6 draws the extreme is about 5 std; a draw truncated at 2 std (or 2.27 after Keras' correction)
    # could never get past 4.
    assert (w - mean).abs().max().item() > 4 * std


def assert_truncated(w: torch.Tensor, final_std: float, cut: float, mean: float = 0.0) -> None:
    """A truncated normal: final std `final_std`, nothing beyond mean ± cut, and draws close to the cut."""
    assert w.mean().item() == pytest.approx(mean, abs=0.01 * final_std)
    assert w.std().item() == pytest.approx(final_std, rel=0.01)
    dev = (w - mean).abs().max().item()
    assert dev <= cut * (1 + 1e-6)
    assert dev > 0.99 * cut


def keras_trunc(std: float) -> tuple[float, float]:
    """Keras' VarianceScaling truncated_normal for a wanted std: (final std, cut)."""
    drawn = std / TRUNCATION_STD_CORRECTION
    return std, 2 * drawn


# name -> check of a (OUT, IN) weight drawn with the entry's defaults.
CHECKS = {
    "zeros": lambda w: assert_constant(w, 0.0),
    "ones": lambda w: assert_constant(w, 1.0),
    "constant": lambda w: assert_constant(w, 0.0),
    "random_uniform": lambda w: assert_uniform(w, -0.05, 0.05),
    "random_normal": lambda w: assert_normal(w, 0.05),
    # Keras' TruncatedNormal is not corrected: std 0.05 drawn, cut at ±0.1, final std 0.05 * 0.8796.
    "truncated_normal": lambda w: assert_truncated(w, 0.05 * TRUNCATION_STD_CORRECTION, 0.1),
    "glorot_uniform": lambda w: assert_uniform(w, -math.sqrt(6 / (IN + OUT)), math.sqrt(6 / (IN + OUT))),
    "glorot_normal": lambda w: assert_truncated(w, *keras_trunc(math.sqrt(1 / FAN_AVG))),
    "he_uniform": lambda w: assert_uniform(w, -math.sqrt(6 / IN), math.sqrt(6 / IN)),
    "he_normal": lambda w: assert_truncated(w, *keras_trunc(math.sqrt(2 / IN))),
    "lecun_uniform": lambda w: assert_uniform(w, -math.sqrt(3 / IN), math.sqrt(3 / IN)),
    "lecun_normal": lambda w: assert_truncated(w, *keras_trunc(math.sqrt(1 / IN))),
    "orthogonal": lambda w: assert_orthogonal(w, 1.0),
    # lsuv's catalog draw is its orthogonal start; the data-dependent rescaling is tested in test_presets.
    "lsuv": lambda w: assert_orthogonal(w, 1.0),
    "variance_scaling": lambda w: assert_truncated(w, *keras_trunc(math.sqrt(1 / IN))),
    "kaiming_normal": lambda w: assert_normal(w, math.sqrt(2 / IN)),
    "kaiming_uniform": lambda w: assert_uniform(w, -math.sqrt(6 / IN), math.sqrt(6 / IN)),
    "torch_default": lambda w: assert_uniform(w, -1 / math.sqrt(IN), 1 / math.sqrt(IN)),
}


def assert_constant(w: torch.Tensor, value: float) -> None:
    assert torch.all(w == value)


def assert_orthogonal(w: torch.Tensor, gain: float) -> None:
    rows, cols = w.shape
    gram = w.T @ w if rows >= cols else w @ w.T  # the smaller side is orthonormal
    eye = torch.eye(min(rows, cols), dtype=w.dtype)
    assert torch.allclose(gram, gain**2 * eye, atol=1e-4)


def test_every_catalog_entry_has_a_statistical_check():
    assert set(CHECKS) == set(CATALOG)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_distribution_of_each_entry(name):
    # Orthogonality is exact, not statistical: a smaller matrix saves a second of QR.
    CHECKS[name](draw(name, (400, 100)) if name in ("orthogonal", "lsuv") else draw(name))


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_same_generator_seed_same_weights(name):
    a, b = draw(name, (64, 32), seed=5), draw(name, (64, 32), seed=5)
    assert torch.equal(a, b)
    if name not in ("zeros", "ones", "constant"):
        assert not torch.equal(a, draw(name, (64, 32), seed=6))


def test_he_normal_std_correction_is_applied():
    # Without Keras' correction the truncated draw's std would be sqrt(2/fan_in) * 0.8796: 12% low.
    w = draw("he_normal")
    target = math.sqrt(2 / IN)
    assert abs(w.std().item() - target) < 0.01 * target
    assert w.abs().max().item() <= 2 * target / 0.87962566103423978 * (1 + 1e-6)
    assert w.abs().max().item() > 2 * target  # the cut is past 2 target stds, as in Keras


def test_kaiming_normal_is_not_truncated_unlike_he_normal():
    he, kaiming = draw("he_normal"), draw("kaiming_normal")
    std = math.sqrt(2 / IN)
    assert he.abs().max().item() < 2.3 * std
    assert kaiming.abs().max().item() > 2.3 * std
    assert (kaiming.abs() > 2.3 * std).float().mean().item() > 0.01  # about 2% of a normal lies beyond


def test_fans_follow_torch_layout_out_in():
    # (OUT, IN) = (2000, 500): fan_in is 500. Transposed, fan_in would be 2000 and the limit half as wide.
    wide = draw("lecun_uniform", (IN, OUT))
    assert wide.abs().max().item() <= math.sqrt(3 / OUT)
    assert draw("lecun_uniform").abs().max().item() > math.sqrt(3 / OUT) * 1.5


def test_orthogonal_both_orientations_and_gain():
    assert_orthogonal(draw("orthogonal", (50, 200)), 1.0)
    assert_orthogonal(draw("orthogonal", (200, 50)), 1.0)
    assert_orthogonal(draw("orthogonal:gain=2", (200, 50)), 2.0)


@pytest.mark.parametrize("text, check", [
    ("normal:std=0.5", lambda w: assert_normal(w, 0.5)),
    ("random_normal:mean=1,stddev=0.2", lambda w: assert_normal(w, 0.2, mean=1.0)),
    ("uniform:low=-1,high=1", lambda w: assert_uniform(w, -1.0, 1.0)),
    ("uniform:minval=0,maxval=2", lambda w: assert_uniform(w, 0.0, 2.0)),
    ("constant:value=0.1", lambda w: assert_constant(w, torch.tensor(0.1).item())),  # 0.1 as float32
    ("truncated_normal:mean=1,std=0.5", lambda w: assert_truncated(w, 0.5 * TRUNCATION_STD_CORRECTION, 1.0, 1.0)),
    ("variance_scaling:scale=2,mode=fan_out,distribution=uniform",
     lambda w: assert_uniform(w, -math.sqrt(6 / OUT), math.sqrt(6 / OUT))),
    ("variance_scaling:scale=3,mode=fan_avg,distribution=untruncated_normal",
     lambda w: assert_normal(w, math.sqrt(3 / FAN_AVG))),
    ("variance_scaling:scale=0.5,mode=fan_in,distribution=truncated_normal",
     lambda w: assert_truncated(w, *keras_trunc(math.sqrt(0.5 / IN)))),
])
def test_parameters_change_the_distribution(text, check):
    check(draw(text))


def test_parse_spec_params_and_labels():
    spec = parse_spec("normal:std=0.5")
    assert spec.name == "random_normal"
    assert spec.resolved() == {"mean": 0.0, "std": 0.5}
    assert spec.label == "normal:std=0.5"
    vs = parse_spec("variance_scaling:scale=2,mode=fan_out,distribution=uniform")
    assert vs.resolved() == {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}
    assert vs.label == "variance_scaling:scale=2,mode=fan_out,distribution=uniform"
    assert parse_spec("constant:value=0.1").resolved() == {"value": 0.1}
    assert parse_spec("uniform:low=-1,high=1").resolved() == {"low": -1.0, "high": 1.0}


def test_aliases_keep_the_name_typed():
    spec = parse_spec("uniform")
    assert spec.name == "random_uniform" and spec.label == "uniform"
    assert parse_spec("random_uniform").label == "random_uniform"
    assert parse_spec("normal").label == "normal"
    assert parse_spec("xavier_uniform").name == "glorot_uniform"
    assert parse_spec("xavier_normal").name == "glorot_normal"
    assert parse_spec("He-Normal").name == "he_normal"
    assert set(ALIASES) <= set(known_names())


def test_default_initializers_are_the_lessons():
    assert DEFAULT_INITIALIZERS == ("zeros", "uniform", "normal", "he_normal", "lecun_uniform")
    assert [s.label for s in parse_list(",".join(DEFAULT_INITIALIZERS))] == list(DEFAULT_INITIALIZERS)


def test_parse_list_keeps_commas_inside_a_spec():
    specs = parse_list("zeros,uniform:low=-1,high=1,variance_scaling:scale=2,mode=fan_out,he_normal")
    assert [s.label for s in specs] == ["zeros", "uniform:low=-1,high=1", "variance_scaling:scale=2,mode=fan_out",
                                        "he_normal"]


@pytest.mark.parametrize("text, words", [
    ("he_norml", ["unknown initializer", "he_normal"]),  # close match suggested
    ("glorot_unifrom", ["unknown initializer", "glorot_uniform"]),
    ("qwertyuiop", ["unknown initializer", "--list-initializers"]),
    ("normal:sigma=1", ["no parameter", "sigma", "mean, std"]),
    ("zeros:value=1", ["no parameter", "none"]),
    ("normal:std=abc", ["std", "'abc'", "not a number"]),
    ("normal:std=", ["not a number"]),
    ("normal:std", ["key=value"]),
    ("normal:std=inf", ["finite"]),
    ("normal:std=-1", ["std must be >= 0"]),
    ("uniform:low=1,high=-1", ["low must be <= high"]),
    ("variance_scaling:mode=fan_sideways", ["mode must be one of", "fan_in"]),
    ("variance_scaling:distribution=cauchy", ["distribution must be one of"]),
    ("variance_scaling:scale=0", ["scale must be > 0"]),
    (":std=1", ["empty initializer name"]),
])
def test_parse_errors(text, words):
    with pytest.raises(UserError) as info:
        parse_spec(text)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_parse_list_errors():
    with pytest.raises(UserError, match="at least one"):
        parse_list(" , ")
    with pytest.raises(UserError, match="listed twice"):
        parse_list("zeros,he_normal,zeros")
    with pytest.raises(UserError, match="unknown initializer"):
        parse_list("zeros,nope")


def test_spec_equality_ignores_alias_spelling():
    assert parse_spec("uniform") == parse_spec("random_uniform") == InitSpec("random_uniform")


def test_catalog_lines_name_every_entry_with_every_parameter_wrapped_to_the_width():
    for width in (60, 80, 120):
        lines = catalog_lines(width)
        assert max(map(len, lines)) <= width
        names = [line.split()[0] for line in lines if not line.startswith(" ")]
        assert names == list(CATALOG)
        joined = " ".join(" ".join(lines).split())  # wrapping undone
        for entry in CATALOG.values():
            assert entry.formula in joined and entry.description in joined
            params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.defaults.items())
            assert not params or params in joined, entry.name  # he_normal:scale=2 works, so it is listed
        for alias in ALIASES:
            assert alias in joined
    he = " ".join(catalog_lines(200)[next(i for i, line in enumerate(catalog_lines(200))
                                          if line.startswith("he_normal "))].split())
    assert "sqrt(2/fan_in)" in he
    assert "truncated" in CATALOG["kaiming_normal"].description or "not truncated" in CATALOG["kaiming_normal"].formula


def test_parameters_without_a_colon_are_a_clear_error():
    with pytest.raises(UserError, match="parameters go after a colon"):
        parse_list("normal,std=0.5")
    assert [s.label for s in parse_list("uniform:low=-1,high=1,zeros")] == ["uniform:low=-1,high=1", "zeros"]
