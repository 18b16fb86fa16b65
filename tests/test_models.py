"""Your own network on real data: built-in models, a user's model file, images and k classes, the generic engine."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest
import torch
from fakes import experiment
from torch import nn

from initdash import engine
from initdash.cli import main
from initdash.data import BUILTIN_DATA, BUILTIN_INFO, load
from initdash.events import METRICS, OK
from initdash.initializers import initialize, parse_spec
from initdash.models import build, weight_layers
from initdash.models.sizes import parameter_count
from initdash.models.spec import ModelSpec

RESIDUAL_MODEL = textwrap.dedent("""
    import math
    from torch import nn


    class Block(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.norm = nn.LayerNorm(width)
            self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)

        def forward(self, x):
            return x + self.fc2(self.fc1(self.norm(x)).relu())


    def build(in_shape, n_outputs):
        width = 32
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width),
                             nn.Sequential(Block(width), Block(width)), nn.ReLU(), nn.Linear(width, n_outputs))
""")


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def headless(tmp_path, capsys, *argv: str) -> tuple[int, dict, str]:
    out = tmp_path / "out.json"
    code = main(["--headless", "--no-save", "--seed", "3", "--epochs", "1", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    return code, (json.loads(out.read_text()) if code == 0 else {}), err


@pytest.mark.parametrize("name", BUILTIN_DATA)
def test_builtin_info_describes_the_loaded_data(name):
    assert load(name).info == BUILTIN_INFO[name]  # what the dashboard shows before it loads the data


@pytest.mark.parametrize(("name", "shape"), [
    ("linear", (4,)), ("linear", (1, 8, 8)), ("mlp", (30,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8)),
    ("cnn", (3, 9, 5)), ("cnn", (20,)), ("cnn", (2, 15)), ("resnet", (1, 8, 8)), ("resnet", (13,)),
])
def test_parameter_count_by_arithmetic_equals_the_module(name, shape):
    spec = ModelSpec(name, hidden=(16, 8) if name == "mlp" else (), channels=(6, 12, 5), depth=2)
    model = build(spec, shape, 3)
    params, _ = parameter_count(name, shape, 3, spec.hidden, spec.channels, spec.depth)
    assert params == sum(p.numel() for p in model.parameters())
    assert model(torch.zeros(2, *shape)).shape == (2, 3)


@pytest.mark.parametrize("model", [["--model", "linear"], ["--model", "mlp", "--hidden", "16"],
                                   ["--model", "cnn", "--channels", "4,8"],
                                   ["--model", "resnet", "--depth", "1", "--channels", "4"]],
                         ids=["linear", "mlp", "cnn", "resnet"])
def test_every_builtin_model_trains_headless_on_digits(tmp_path, capsys, model):
    code, doc, err = headless(tmp_path, capsys, "--data", "digits", "--repeats", "2", "--init", "zeros,he_normal",
                              "--layer-stats", *model)
    assert code == 0, err
    assert doc["config"]["model"]["name"] == model[1]
    assert len(doc["runs"]) == 4 and {r["status"] for r in doc["runs"]} == {OK}
    for run in doc["runs"]:
        assert [h["epoch"] for h in run["history"]] == [0, 1]
    he = [r for r in doc["runs"] if r["initializer"] == "he_normal"]
    assert all(r["history"][1]["loss"] < r["history"][0]["loss"] for r in he), he  # it learns
    if model[1] != "linear":  # more than one layer: per-layer statistics, named by module path
        assert he[0]["layer_names"] and len(he[0]["history"][0]["activation_std"]) == len(he[0]["layer_names"])
    assert "10 classes" in err


def test_zeros_init_starts_at_ln_k_for_k_classes(digits):
    (out,) = engine.train_batched(digits, experiment(epochs=1), parse_spec("zeros"), [1])
    assert out.history[0]["loss"] == pytest.approx(math.log(10), abs=1e-9)  # a uniform softmax over 10 classes
    assert out.history[0]["val_loss"] == pytest.approx(math.log(10), abs=1e-9)
    assert out.history[1]["loss"] < math.log(10)


@pytest.mark.parametrize("spec", [ModelSpec("linear"), ModelSpec("mlp", hidden=(16, 16), activation="tanh"),
                                  ModelSpec("cnn", channels=(4, 8)), ModelSpec("resnet", channels=(4,), depth=2)],
                         ids=lambda s: s.name)
@pytest.mark.parametrize("optimizer", ["rmsprop", "sgd"])
def test_batched_engines_equal_the_per_model_loop_in_the_first_epoch(digits, spec, optimizer):
    config = experiment(model=spec, epochs=1, batch_size=64, optimizer=optimizer, layer_stats=True)
    init, seeds = parse_spec("he_normal"), [5, 6, 7]
    batched = engine.train_batched(digits, config, init, seeds)
    for seed, got in zip(seeds, batched):
        want = engine.train_reference(digits, config, init, seed)
        assert got.status == want.status == OK
        for a, b in zip(got.history, want.history):
            for m in METRICS:
                assert a[m] == pytest.approx(b[m], abs=1e-5), (spec.name, m, a["epoch"])
        for k in ("activation_std", "grad_norm"):  # the same initial weights: the same layer statistics
            assert got.history[0].get(k, []) == pytest.approx(want.history[0].get(k, []), rel=1e-5, abs=1e-7)


def test_final_metrics_of_generic_and_per_model_engines_follow_one_distribution():
    """Over many epochs float32 summation order makes runs drift apart; the distributions must still agree."""
    from scipy.stats import mannwhitneyu

    iris = load("iris")
    config = experiment(model=ModelSpec("cnn", channels=(4,)), epochs=15, batch_size=8, optimizer="sgd", lr=0.05)
    init, seeds = parse_spec("glorot_uniform"), list(range(100, 112))
    batched = [o.history[-1]["val_loss"] for o in engine.train_batched(iris, config, init, seeds)]
    single = [engine.train_reference(iris, config, init, s + 1000).history[-1]["val_loss"] for s in seeds]
    assert mannwhitneyu(batched, single).pvalue > 0.01, (batched, single)


def test_initializer_acts_on_kernels_and_other_parameters_get_keras_defaults():
    model = nn.ModuleDict({"fc": nn.Linear(5, 3), "c1": nn.Conv1d(2, 3, 3), "c2": nn.Conv2d(2, 4, 3),
                           "c3": nn.Conv3d(1, 2, 2), "norm": nn.LayerNorm(3), "emb": nn.Embedding(7, 3)})
    with torch.no_grad():
        model["norm"].weight.fill_(5.0)
        model["norm"].bias.fill_(5.0)
    initialize(model, parse_spec("ones"), torch.Generator().manual_seed(0))
    for name, layer in weight_layers(model):
        assert torch.all(layer.weight == 1) and torch.all(layer.bias == 0), name
    assert torch.all(model["norm"].weight == 1) and torch.all(model["norm"].bias == 0)  # Keras' ones and zeros
    emb = model["emb"].weight  # Keras' uniform(-0.05, 0.05), not PyTorch's N(0, 1)
    assert emb.abs().max() <= 0.05 and emb.std() > 0.01


def test_keras_fan_rules_for_convolutions():
    conv = nn.Conv2d(3, 8, 5)  # fan_in = 3 x 5 x 5 = 75, fan_out = 8 x 25 = 200
    initialize(conv, parse_spec("he_uniform"), torch.Generator().manual_seed(0))
    limit = math.sqrt(6 / 75)
    assert conv.weight.abs().max() <= limit and conv.weight.abs().max() > 0.95 * limit
    initialize(conv, parse_spec("glorot_uniform"), torch.Generator().manual_seed(0))
    limit = math.sqrt(6 / (75 + 200))
    assert conv.weight.abs().max() <= limit and conv.weight.abs().max() > 0.95 * limit


def test_lsuv_reaches_unit_variance_on_a_conv_net_in_forward_order(digits):
    model = build(ModelSpec("cnn", channels=(8, 8, 8)), digits.in_shape, 10)
    x = torch.as_tensor(digits.x_train)
    initialize(model, parse_spec("lsuv:tol=0.02,batch=1257"), torch.Generator().manual_seed(2), x)
    seen = []
    hooks = [m.register_forward_hook(lambda mod, i, out: seen.append(out.var().item()))
             for _, m in weight_layers(model)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert all(abs(v - 1) < 0.05 for v in seen), seen


def write_model(tmp_path, text: str, name: str = "mynet.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_users_model_with_residual_blocks_and_layernorm_trains(tmp_path, capsys):
    path = write_model(tmp_path, RESIDUAL_MODEL)
    code, doc, err = headless(tmp_path, capsys, "--data", "digits", "--model", f"{path}:build", "--repeats", "2",
                              "--init", "he_normal,lsuv", "--epochs", "2", "--layer-stats")
    assert code == 0, err
    assert doc["config"]["model"]["name"] == f"{path}:build" and len(doc["config"]["model"]["digest"]) == 64
    run = doc["runs"][0]
    assert run["layer_names"] == ["1", "2.0.fc1", "2.0.fc2", "2.1.fc1", "2.1.fc2", "4"]  # module paths
    assert all(r["status"] == OK for r in doc["runs"])
    assert max(r["history"][-1]["val_accuracy"] for r in doc["runs"]) > 0.8


def test_a_model_module_on_the_python_path(tmp_path, capsys, monkeypatch):
    package = tmp_path / "mymodels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(RESIDUAL_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, doc, err = headless(tmp_path, capsys, "--data", "iris", "--model", "mymodels.nets:build", "--init", "zeros")
    assert code == 0, err
    assert doc["config"]["model"]["name"] == "mymodels.nets:build"


def test_a_cnn_on_an_npz_of_images_with_text_labels(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = np.array(["cat", "dog", "bird"])[rng.integers(0, 3, 90)]
    x = rng.normal(size=(90, 12, 12)) + (labels == "dog")[:, None, None]  # (N, H, W): one channel
    np.savez(tmp_path / "pics.npz", x=x, y=labels)
    code, doc, err = headless(tmp_path, capsys, "--data", str(tmp_path / "pics.npz"), "--model", "cnn",
                              "--channels", "4,8", "--init", "he_normal")
    assert code == 0, err
    assert "labels: 'bird' -> 0, 'cat' -> 1, 'dog' -> 2" in err and "12x12 images, 3 classes" in err


def test_a_model_vmap_cannot_batch_trains_one_at_a_time_with_the_same_numbers(tmp_path, capsys):
    path = write_model(tmp_path, textwrap.dedent("""
        from torch import nn
        def build(in_shape, n_outputs):
            return nn.Sequential(nn.Linear(in_shape[0], 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, n_outputs))
    """))
    code, doc, err = headless(tmp_path, capsys, "--data", "iris", "--model", f"{path}:build", "--repeats", "2",
                              "--init", "he_normal")
    assert code == 0, err
    assert err.count("BatchNorm1d in training mode") == 1 and "one model at a time" in err
    config = experiment(model=ModelSpec(f"{path}:build"), epochs=1)
    iris, runs = load("iris"), doc["runs"]
    engine.limit_threads()  # as every worker does: BatchNorm's sums depend on the thread count
    for run in runs:
        ref = engine.train_reference(iris, config, parse_spec("he_normal"), run["seed"], data_seed=run["data_seed"])
        assert [h["val_loss"] for h in run["history"]] == [h["val_loss"] for h in ref.history]


BAD_MODELS = {
    "binary.py": (b"\x00\x01\x02binary", "not Python source"),
    "syntax.py": ("import torch\ndef build(:\n", "not valid Python: invalid syntax (line 2)"),
    "noname.py": ("def other():\n    pass\n", "has no 'build' (it defines other)"),
    "notcallable.py": ("build = 5\n", "'build' is not callable"),
    "notmodule.py": ("def build():\n    return [1, 2]\n", "returned a list, not a torch.nn.Module"),
    "raises.py": ("def build(n_outputs):\n    raise ValueError('no model for %d' % n_outputs)\n",
                  "raised ValueError: no model for 10"),
    "nolayer.py": ("import torch\ndef build():\n    return torch.nn.Sequential(torch.nn.Flatten())\n",
                   "the model has no kernel"),
    "shape.py": ("import torch\ndef build():\n"
                 "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5))\n",
                 "output has shape (2, 5) for a batch of 2, but digits has 10 classes: it must be (batch, 10)"),
    "fails.py": ("import torch\ndef build():\n    return torch.nn.Linear(3, 10)\n", "fails on digits examples"),
    "tuple.py": ("import torch\nclass Two(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.fc = torch.nn.Linear(64, 10)\n"
                 "    def forward(self, x):\n        y = self.fc(x.flatten(1))\n        return y, y\n"
                 "def build():\n    return Two()\n",
                 "it returns a tuple, not a tensor, for a batch of 2: it must return one tensor of shape (batch, 10)"),
    "imports.py": ("import no_such_module_here\n", "raised ModuleNotFoundError"),
}


@pytest.mark.parametrize("name", [*BAD_MODELS, "missing.py", "missing.module"])
def test_bad_models_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, monkeypatch, name):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    if name in BAD_MODELS:
        content, words = BAD_MODELS[name]
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        spec = f"{path}:build"
    else:
        spec, words = (f"{tmp_path / name}:build", "no such file") if name.endswith(".py") else \
            (f"{name}:build", "cannot be found")
    db, out = tmp_path / "h.db", tmp_path / "o.json"
    code = main(["--headless", "--seed", "1", "--epochs", "1", "--data", "digits", "--model", spec, "--db", str(db),
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("initdash: error: ") and words in err, err
    assert "Traceback" not in err
    assert not db.exists() and not out.exists()


@pytest.mark.parametrize(("arrays", "words"), [
    ({"y": np.zeros(10)}, "no array named 'x'"),
    ({"x": np.zeros((10, 3))}, "no array named 'y'"),
    ({"x": np.zeros((10, 3)), "y": np.zeros(9)}, "x has 10 examples but y has 9 labels"),
    ({"x": np.r_[np.zeros((9, 3)), [[0, np.nan, 0]]], "y": np.arange(10) % 2}, "x[9] holds NaN"),
    ({"x": np.r_[np.zeros((9, 3)), [[0, np.inf, 0]]], "y": np.arange(10) % 2}, "x[9] holds inf"),
    ({"x": np.zeros((40, 3)), "y": np.linspace(0, 1, 40)}, "looks like regression"),
    ({"x": np.zeros((10, 3)), "y": np.zeros((10, 2))}, "y must be one label per example"),
])
def test_bad_npz_files_are_one_line(tmp_path, capsys, arrays, words):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert main(["--headless", "--no-save", "--epochs", "1", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_not_an_npz_file(tmp_path, capsys):
    path = tmp_path / "fake.npz"
    path.write_text("hello")
    assert main(["--headless", "--no-save", "--data", str(path)]) == 2
    assert "not an .npz file" in capsys.readouterr().err


def test_list_models(capsys):
    assert main(["--list-models"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[:4]] == ["linear", "mlp", "cnn", "resnet"]
    assert "runs as Python code" in out


@pytest.mark.parametrize("shape", ["(batch, 1)", "(batch,)"])
def test_a_users_model_on_two_classes_may_answer_either_shape(tmp_path, capsys, shape):
    squeeze = ".squeeze(-1)" if shape == "(batch,)" else ""
    path = write_model(tmp_path, textwrap.dedent(f"""
        from torch import nn

        class Net(nn.Module):
            def __init__(self, in_shape):
                super().__init__()
                self.fc = nn.Linear(in_shape[0], 1)

            def forward(self, x):
                return self.fc(x){squeeze}

        def build(in_shape):
            return Net(in_shape)
    """))
    code, doc, err = headless(tmp_path, capsys, "--model", f"{path}:build", "--init", "zeros,he_normal",
                              "--repeats", "2")
    assert code == 0, err
    zeros = doc["runs"][0]["history"]
    assert zeros[0]["loss"] == pytest.approx(math.log(2), abs=1e-9)  # binary cross-entropy, not a broadcast
    config = experiment(model=ModelSpec(f"{path}:build"), epochs=1, seed=3)
    engine.limit_threads()
    run = doc["runs"][2]
    ref = engine.train_reference(load(), config, parse_spec("he_normal"), run["seed"], data_seed=run["data_seed"])
    assert [h["loss"] for h in run["history"]] == pytest.approx([h["loss"] for h in ref.history], abs=1e-6)


def test_a_model_with_lazy_layers_trains(tmp_path, capsys):
    path = write_model(tmp_path, "from torch import nn\n\ndef build(n_outputs):\n    return nn.Sequential("
                                 "nn.Flatten(), nn.LazyLinear(16), nn.ReLU(), nn.LazyLinear(n_outputs))\n")
    code, doc, err = headless(tmp_path, capsys, "--data", "wine", "--model", f"{path}:build", "--init", "he_normal")
    assert code == 0, err
    assert doc["runs"][0]["history"][1]["loss"] < doc["runs"][0]["history"][0]["loss"]


def test_widest_measures_every_activation_a_conv_transpose_and_upsampling_included():
    """Memory estimates and evaluation passes use the largest output of any layer, measured, not the weights'
    first dimension times the input's size (a ConvTranspose's weight starts with its *input* channels)."""
    from torch import nn

    from initdash.models import widest

    model = nn.Sequential(nn.ConvTranspose2d(4, 64, 2, stride=2), nn.Upsample(scale_factor=2), nn.Flatten(),
                          nn.LazyLinear(3))
    example = torch.zeros(2, 4, 8, 8)
    model(example)
    assert widest(model, example) == 64 * 32 * 32  # 4x8x8 in, 64x16x16 after the transpose, 64x32x32 upsampled
    assert widest(nn.Linear(10, 3), torch.zeros(2, 10)) == 10  # the input, when no layer is wider
