"""Initialization by role: Keras' fans per torch.nn module type (measured std against the formula), Keras'
defaults on the roles --init does not reach, --apply-to, and the built-in models' draws unchanged."""

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from initdash.initializers import fill, initialize, parse_spec
from initdash.models import ModelSpec, build, weight_layers
from initdash.models.roles import ROLES, rebound, slots

ROOT = Path(__file__).resolve().parent.parent
ALL = ROLES  # kernel, recurrent, embedding


def glorot_std(fan_in: int, fan_out: int) -> float:
    return math.sqrt(2.0 / (fan_in + fan_out))


# (module, parameter, rows of it (None: all), Keras' kernel shape as Keras lays it out) -> fans from that shape:
# Dense (in, out); Conv (*k, in/groups, out); ConvTranspose (*k, out, in); RNN kernels (in, units*gates);
# Embedding (input_dim, output_dim); Bilinear as a Dense on the outer product (in1*in2, out).
CASES = [
    ("Linear", lambda: nn.Linear(300, 40), "weight", None, (300, 40)),
    ("Bilinear", lambda: nn.Bilinear(20, 30, 12), "weight", None, (600, 12)),
    ("Conv1d", lambda: nn.Conv1d(30, 80, 5), "weight", None, (5, 30, 80)),
    ("Conv2d", lambda: nn.Conv2d(12, 40, 3), "weight", None, (3, 3, 12, 40)),
    ("Conv2d groups", lambda: nn.Conv2d(12, 48, 3, groups=4), "weight", None, (3, 3, 3, 48)),
    ("Conv3d", lambda: nn.Conv3d(6, 20, 3), "weight", None, (3, 3, 3, 6, 20)),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(30, 80, 5), "weight", None, (5, 80, 30)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(12, 40, 3), "weight", None, (3, 3, 40, 12)),
    ("ConvTranspose3d", lambda: nn.ConvTranspose3d(6, 20, 3), "weight", None, (3, 3, 3, 20, 6)),
    ("Embedding", lambda: nn.Embedding(1000, 8), "weight", None, (1000, 8)),
    ("EmbeddingBag", lambda: nn.EmbeddingBag(1000, 8), "weight", None, (1000, 8)),
    ("RNN kernel", lambda: nn.RNN(200, 30), "weight_ih_l0", None, (200, 30)),
    ("RNN recurrent", lambda: nn.RNN(20, 60), "weight_hh_l0", None, (60, 60)),
    ("GRU kernel", lambda: nn.GRU(200, 20), "weight_ih_l0", None, (200, 60)),
    ("GRU recurrent", lambda: nn.GRU(20, 40), "weight_hh_l0", None, (40, 120)),
    ("LSTM kernel", lambda: nn.LSTM(200, 20), "weight_ih_l0", None, (200, 80)),
    ("LSTM recurrent", lambda: nn.LSTM(20, 40), "weight_hh_l0", None, (40, 160)),
    ("LSTM layer 2, reverse", lambda: nn.LSTM(20, 30, num_layers=2, bidirectional=True), "weight_ih_l1_reverse",
     None, (60, 120)),
    ("LSTM projection", lambda: nn.LSTM(20, 200, proj_size=10), "weight_hr_l0", None, (200, 10)),
    ("GRUCell", lambda: nn.GRUCell(200, 20), "weight_ih", None, (200, 60)),
    ("LSTMCell recurrent", lambda: nn.LSTMCell(20, 40), "weight_hh", None, (40, 160)),
    ("MultiheadAttention q", lambda: nn.MultiheadAttention(64, 4), "in_proj_weight", slice(0, 64), (64, 64)),
    ("MultiheadAttention v", lambda: nn.MultiheadAttention(64, 4), "in_proj_weight", slice(128, 192), (64, 64)),
    ("MultiheadAttention k (kdim)", lambda: nn.MultiheadAttention(64, 4, kdim=400, vdim=8), "k_proj_weight", None,
     (400, 64)),
    ("MultiheadAttention out_proj", lambda: nn.MultiheadAttention(64, 4), "out_proj.weight", None, (64, 64)),
    ("LazyLinear, shaped", lambda: _shaped(nn.LazyLinear(40), torch.zeros(2, 300)), "weight", None, (300, 40)),
    ("LazyConv2d, shaped", lambda: _shaped(nn.LazyConv2d(40, 3), torch.zeros(2, 12, 5, 5)), "weight", None,
     (3, 3, 12, 40)),
]


def _shaped(module: nn.Module, x: torch.Tensor) -> nn.Module:
    module(x)
    return module


def keras_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """keras.src.initializers.random_initializers.compute_fans."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


# Formulas that tell fan_in from fan_out (glorot's fan_avg would not), with the std each promises.
FORMULAS = [("he_uniform", lambda fi, fo: math.sqrt(2 / fi)),
            ("variance_scaling:mode=fan_out,distribution=uniform", lambda fi, fo: math.sqrt(1 / fo)),
            ("glorot_normal", glorot_std)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_measured_std_follows_keras_fans_per_module_type(case):
    _, make, name, rows, keras_shape = case
    fan_in, fan_out = keras_fans(keras_shape)
    for formula, std in FORMULAS:
        module = make()
        initialize(module, parse_spec(formula), torch.Generator().manual_seed(0), roles=ALL)
        w = dict(module.named_parameters())[name].detach()
        w = w if rows is None else w[rows]
        assert w.std().item() == pytest.approx(std(fan_in, fan_out), rel=0.06), (formula, fan_in, fan_out)
    slot = next(s for s in slots(module) if s.name == name)
    assert slot.fans == (fan_in, fan_out)


def test_every_weight_bearing_module_has_its_role():
    model = nn.ModuleDict({"lstm": nn.LSTM(4, 6), "emb": nn.Embedding(9, 4, padding_idx=0), "bn": nn.BatchNorm1d(4),
                           "ln": nn.LayerNorm(4), "gn": nn.GroupNorm(2, 4), "rms": nn.RMSNorm(4),
                           "attn": nn.MultiheadAttention(4, 2, add_bias_kv=True), "act": nn.PReLU()})
    kinds = {s.name: s.kind for s in slots(model)}
    assert kinds == {
        "lstm.weight_ih_l0": "kernel", "lstm.weight_hh_l0": "recurrent", "lstm.bias_ih_l0": "bias",
        "lstm.bias_hh_l0": "bias", "emb.weight": "embedding", "bn.weight": "scale", "bn.bias": "bias",
        "ln.weight": "scale", "ln.bias": "bias", "gn.weight": "scale", "gn.bias": "bias", "rms.weight": "scale",
        "attn.in_proj_weight": "kernel", "attn.in_proj_bias": "bias", "attn.bias_k": "bias", "attn.bias_v": "bias",
        "attn.out_proj.weight": "kernel", "attn.out_proj.bias": "bias", "act.weight": "own"}
    before = model["act"].weight.detach().clone()
    initialize(model, parse_spec("he_normal"), torch.Generator().manual_seed(1))
    lstm = model["lstm"]
    assert torch.equal(lstm.bias_ih_l0[6:12], torch.ones(6))  # forget gate (i, f, g, o): Keras' unit_forget_bias
    assert lstm.bias_ih_l0[:6].abs().sum() == 0 and lstm.bias_ih_l0[12:].abs().sum() == 0
    assert lstm.bias_hh_l0.abs().sum() == 0
    assert model["emb"].weight[0].abs().sum() == 0  # the padding row stays zero, as nn.Embedding promises
    for norm in ("bn", "ln", "gn"):
        assert torch.all(model[norm].weight == 1) and torch.all(model[norm].bias == 0)
    assert model["attn"].bias_k.abs().sum() == 0
    assert torch.equal(model["act"].weight, before)  # PReLU's own weight: left to the module


def test_initialization_draws_from_the_run_generator_only():
    model = nn.ModuleDict({"gru": nn.GRU(5, 7), "emb": nn.Embedding(11, 5), "fc": nn.Linear(7, 3)})
    torch.manual_seed(123)
    state = torch.get_rng_state()
    initialize(model, parse_spec("he_uniform"), torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), state)  # the global stream is untouched
    first = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(999)  # another global state: the same weights
    initialize(model, parse_spec("he_uniform"), torch.Generator().manual_seed(4))
    assert all(torch.equal(first[k], v) for k, v in model.state_dict().items())


def load_mixed():
    sys.path.insert(0, str(ROOT / "assets" / "examples"))
    try:
        import mixed
    finally:
        sys.path.remove(str(ROOT / "assets" / "examples"))
    return mixed.build(10)


KERNELS = ["tokens.weight", "conv.weight", "up.weight", "gru.weight_ih_l0", "lstm.weight_ih_l0",
           "attn.in_proj_weight", "attn.out_proj.weight", "head.weight"]
RECURRENT = ["gru.weight_hh_l0", "lstm.weight_hh_l0"]
EMBEDDING = ["pos.weight"]


def orthogonal(w: torch.Tensor) -> bool:
    """Orthonormal columns (or rows, for a wide matrix)."""
    w = w.detach()
    gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    return torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-5)


def test_a_mixed_model_gets_the_initializer_on_every_kernel_and_keras_defaults_elsewhere():
    model = load_mixed()
    params = dict(model.named_parameters())
    initialize(model, parse_spec("constant:value=0.5"), torch.Generator().manual_seed(0))
    assert all(torch.all(params[k] == 0.5) for k in KERNELS)
    assert all(orthogonal(params[k]) for k in RECURRENT)  # Keras' recurrent default: orthogonal
    emb = params["pos.weight"]  # Keras' embedding default: uniform(-0.05, 0.05)
    assert emb.abs().max() <= 0.05 and 0.02 < emb.std() < 0.04
    assert torch.equal(params["temperature"], torch.ones(1))  # the model's own: kept


def test_apply_to_every_role_puts_the_initializer_everywhere():
    model = load_mixed()
    params = dict(model.named_parameters())
    initialize(model, parse_spec("constant:value=0.5"), torch.Generator().manual_seed(0), roles=ALL)
    assert all(torch.all(params[k] == 0.5) for k in KERNELS + RECURRENT + EMBEDDING)
    model = load_mixed()
    params = dict(model.named_parameters())
    initialize(model, parse_spec("he_normal"), torch.Generator().manual_seed(0), roles=("recurrent",))
    assert all(not orthogonal(params[k]) for k in RECURRENT)
    for k in RECURRENT:  # he_normal with Keras' fan_in = units = 16
        assert params[k].std().item() == pytest.approx(math.sqrt(2 / 16), rel=0.12)
    assert torch.all(params["tokens.weight"].abs() <= math.sqrt(6 / (8 + 16)))  # kernels: glorot_uniform


def old_initialize(model: nn.Module, name: str, g: torch.Generator) -> None:
    """How initdash 0.2.0 initialized a model: torch.nn.init on each Linear/Conv weight, biases zero."""
    import torch.nn.init as tinit

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(m.weight)
                if name == "he_normal":
                    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
                    tinit.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std, generator=g)
                elif name == "glorot_uniform":
                    limit = math.sqrt(3.0 * 1.0 / ((fan_in + fan_out) / 2.0))
                    tinit.uniform_(m.weight, -limit, limit, generator=g)
                elif name == "kaiming_normal":
                    tinit.kaiming_normal_(m.weight, generator=g)
                elif name == "kaiming_uniform":
                    tinit.kaiming_uniform_(m.weight, generator=g)
                elif name == "torch_default":
                    tinit.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
                elif name == "orthogonal":
                    tinit.orthogonal_(m.weight, 1.0, generator=g)
                m.bias.zero_()


@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet"])
@pytest.mark.parametrize("init", ["he_normal", "glorot_uniform", "kaiming_normal", "kaiming_uniform", "torch_default",
                                  "orthogonal"])
def test_built_in_models_draw_bit_for_bit_as_before(model, init):
    spec = ModelSpec(model, hidden=(12, 7) if model == "mlp" else (), channels=(4, 6))
    new, old = (build(spec, (1, 8, 8), 10, seed=3) for _ in range(2))
    initialize(new, parse_spec(init), torch.Generator().manual_seed(5))
    old_initialize(old, init, torch.Generator().manual_seed(5))
    for (name, a), b in zip(new.state_dict().items(), old.state_dict().values()):
        assert torch.equal(a, b), name


def test_per_layer_statistics_follow_kernel_layers():
    model = load_mixed()
    names = [n for n, _ in weight_layers(model)]
    assert names == ["tokens", "conv", "up", "head"]  # attention's out_proj is read, never called


@pytest.mark.parametrize("init", ["he_normal", "lsuv"])
@pytest.mark.parametrize("roles", [("kernel",), ALL])
def test_the_engines_fill_draws_what_initialize_draws(init, roles):
    """fill (no report; its plan read once and rebound onto each copy) sets every parameter as initialize does."""
    x = torch.randn(64, 64)
    plan = None
    for seed in (2, 3):
        a, b = load_mixed(), load_mixed()
        plan = slots(b) if plan is None else rebound(plan, b)
        assert [(s.name, s.kind, s.tensor) for s in plan] == [(s.name, s.kind, s.tensor) for s in slots(b)]
        initialize(a, parse_spec(init), torch.Generator().manual_seed(seed), x, roles)
        fill(b, parse_spec(init), torch.Generator().manual_seed(seed), x, roles, plan)
        for (name, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(va, vb), name


def test_a_plan_is_read_afresh_for_a_model_built_otherwise():
    plan = slots(nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)))
    other = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2))
    assert [s.tensor.shape for s in rebound(plan, other)] == [p.shape for p in other.parameters()]
    assert [s.fans for s in rebound(plan, other)] == [(4, 5), None, (5, 2), None]
