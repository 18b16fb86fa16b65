"""The training engine: known values, determinism, batched == reference, divergence, cancellation."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch
from fakes import experiment

from initdash import engine
from initdash.data import load
from initdash.engine.optim import Optimizer
from initdash.events import CANCELLED, DIVERGED, METRICS, OK
from initdash.initializers import initialize, parse_spec
from initdash.models import build
from initdash.models.spec import ModelSpec


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # What every sweep worker does: tiny tensors train 10-40x faster on one intra-op thread on a busy 2-core box.
    before = torch.get_num_threads()
    engine.limit_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lesson_data():
    return load()


@pytest.fixture(scope="module")
def moons():
    return load("moons")


def cfg(**changes):
    return experiment(**{"epochs": 2, **changes})


def assert_history_close(a, b, tol=1e-5):
    assert [h["epoch"] for h in a] == [h["epoch"] for h in b]
    for ha, hb in zip(a, b):
        for m in METRICS:
            assert ha[m] == pytest.approx(hb[m], abs=tol), (ha["epoch"], m)


@pytest.mark.parametrize("train", ["batched", "reference"])
def test_zeros_starts_at_ln2_and_predicts_class_0(lesson_data, train):
    spec = parse_spec("zeros")
    config = cfg(epochs=1)
    if train == "batched":
        out = engine.train_batched(lesson_data, config, spec, [11])[0]
    else:
        out = engine.train_reference(lesson_data, config, spec, 11)
    first = out.history[0]
    assert first["epoch"] == 0
    assert abs(first["loss"] - math.log(2)) < 1e-6
    assert abs(first["val_loss"] - math.log(2)) < 1e-6
    # A zero logit is "not > 0": class 0, as Keras' binary accuracy (p > 0.5) counts it.
    assert first["accuracy"] == pytest.approx(float(np.mean(lesson_data.y_train == 0)), abs=1e-7)
    assert first["val_accuracy"] == pytest.approx(float(np.mean(lesson_data.y_val == 0)), abs=1e-7)
    assert out.history[1]["loss"] < first["loss"]  # it does learn


def test_history_has_every_epoch_and_metric(lesson_data):
    out = engine.train_batched(lesson_data, cfg(epochs=3), parse_spec("he_normal"), [1])[0]
    assert out.status == OK and out.seed == 1
    assert [h["epoch"] for h in out.history] == [0, 1, 2, 3]
    for h in out.history:
        assert set(h) == {"epoch", *METRICS}
        assert all(math.isfinite(h[m]) for m in METRICS)
        assert 0 <= h["accuracy"] <= 1 and 0 <= h["val_accuracy"] <= 1


def test_same_seed_same_history_different_seed_different(lesson_data):
    spec, config = parse_spec("he_normal"), cfg()
    a = engine.train_batched(lesson_data, config, spec, [5, 6])
    b = engine.train_batched(lesson_data, config, spec, [5, 6])
    assert a[0].history == b[0].history and a[1].history == b[1].history
    assert a[0].history[0]["loss"] != a[1].history[0]["loss"]
    assert a[0].history[-1]["loss"] != a[1].history[-1]["loss"]
    ref = engine.train_reference(lesson_data, config, spec, 5)
    assert ref.history == engine.train_reference(lesson_data, config, spec, 5).history


def test_zeros_with_different_seeds_differs_only_by_shuffling(lesson_data):
    # Same start (all zero), different batch order: epoch 0 equal, later epochs not.
    a, b = engine.train_batched(lesson_data, cfg(), parse_spec("zeros"), [1, 2])
    assert a.history[0] == b.history[0]
    assert a.history[-1]["loss"] != b.history[-1]["loss"]


def test_models_in_one_batch_are_independent(lesson_data):
    spec, config = parse_spec("lecun_uniform"), cfg()
    together = engine.train_batched(lesson_data, config, spec, [3, 4, 5])
    alone = engine.train_batched(lesson_data, config, spec, [4])[0]
    assert_history_close(together[1].history, alone.history, tol=1e-6)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize("model", ["lesson", "mlp"])
def test_batched_equals_reference(lesson_data, moons, optimizer, model):
    if model == "lesson":
        data, config, spec = lesson_data, cfg(optimizer=optimizer), parse_spec("he_normal")
    else:
        data, spec = moons, parse_spec("glorot_uniform")
        config = cfg(optimizer=optimizer, hidden=(8, 8), activation="tanh", batch_size=32)
    seeds = [7, 8]
    batched = engine.train_batched(data, config, spec, seeds)
    for seed, out in zip(seeds, batched):
        ref = engine.train_reference(data, config, spec, seed)
        assert out.status == ref.status == OK
        assert len(out.history) == config.epochs + 1
        assert_history_close(out.history, ref.history, tol=1e-5)
    assert batched[0].history[-1]["loss"] < batched[0].history[0]["loss"] or optimizer == "sgd"


def test_rmsprop_matches_keras_docstring_example():
    # keras.optimizers.RMSprop docstring: lr 0.1, var 10, loss var**2 / 2 -> one minimize step gives 9.683772.
    var = torch.tensor([10.0], requires_grad=True)
    opt = Optimizer([var], "rmsprop", 0.1)
    (var**2 / 2).sum().backward()
    opt.step()
    assert var.item() == pytest.approx(9.683772, abs=1e-6)


def keras_steps(kind: str, lr: float, grads: list[float], p0: float = 1.0) -> float:
    """Keras 3's update rules (keras/src/optimizers/{rmsprop,adam,sgd}.py) on one scalar, in float64."""
    p, m, v = p0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        if kind == "sgd":
            p -= lr * g
        elif kind == "rmsprop":
            v = 0.9 * v + 0.1 * g * g
            p -= lr * g / math.sqrt(v + 1e-7)  # epsilon inside the root, unlike torch.optim.RMSprop
        else:
            alpha = lr * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            m += (g - m) * 0.1
            v += (g * g - v) * 0.001
            p -= alpha * m / (math.sqrt(v) + 1e-7)  # epsilon not rescaled by the bias correction
    return p


@pytest.mark.parametrize("kind", ["sgd", "rmsprop", "adam"])
@pytest.mark.parametrize("scale", [1.0, 1e-5])  # tiny gradients are where epsilon's placement shows
def test_optimizer_steps_follow_keras_formulas(kind, scale):
    grads = [g * scale for g in (0.5, -0.2, 0.3, 0.1)]
    p = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = Optimizer([p], kind, 0.01)
    for g in grads:
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        opt.zero_grad()
        assert p.grad is None
    assert p.item() == pytest.approx(keras_steps(kind, 0.01, grads), rel=0, abs=1e-12)


def test_optimizer_default_learning_rates_are_keras():
    assert experiment().learning_rate == 0.001
    assert experiment(optimizer="adam").learning_rate == 0.001
    assert experiment(optimizer="sgd").learning_rate == 0.01
    assert experiment(optimizer="sgd", lr=0.5).learning_rate == 0.5


def initialized(hidden, init, n_features=4, seed=0):
    model = build(ModelSpec("mlp", hidden=hidden), (n_features,), 1)
    initialize(model, parse_spec(init), torch.Generator().manual_seed(seed))
    return model


def test_mlp_biases_start_at_zero_and_weights_follow_the_spec():
    model = initialized((16, 8), "ones")
    assert [tuple(layer.weight.shape) for layer in model.layers] == [(16, 4), (8, 16), (1, 8)]
    for layer in model.layers:
        assert torch.all(layer.weight == 1) and torch.all(layer.bias == 0)


def test_initializer_applies_to_every_layer():
    model = initialized((300, 300), "he_uniform", n_features=2)
    for layer in model.layers:
        w = layer.weight
        fan_in = w.shape[1]
        assert w.abs().max().item() <= math.sqrt(6 / fan_in)
        assert w.abs().max().item() > 0.9 * math.sqrt(6 / fan_in) or w.numel() < 50


# A relu MLP with SGD at lr 1e14: for some seeds the first steps push the weights to inf and the logits to
# nan (inf - inf); for the others the units saturate or die and the loss stays finite.
DIVERGING = dict(hidden=(8, 8), activation="relu", optimizer="sgd", lr=1e14)


def test_divergence_stops_one_run_while_the_others_go_on(lesson_data):
    config, spec = cfg(**DIVERGING), parse_spec("normal:std=1")
    seeds = list(range(8))
    reports = []
    outs = engine.train_batched(lesson_data, config, spec, seeds, on_epoch=reports.append)
    statuses = [o.status for o in outs]
    assert DIVERGED in statuses and OK in statuses, statuses
    for seed, out in zip(seeds, outs):
        assert out.seed == seed
        for h in out.history:  # nothing non-finite is ever recorded
            assert all(math.isfinite(h[m]) for m in METRICS)
        if out.status == OK:
            assert [h["epoch"] for h in out.history] == [0, 1, 2]
        else:
            assert 1 <= len(out.history) < 3
    # One diverged and one ok seed, alone and in the reference engine, end the same way: no interference.
    for i in (statuses.index(DIVERGED), statuses.index(OK)):
        for other in (engine.train_batched(lesson_data, config, spec, [seeds[i]])[0],
                      engine.train_reference(lesson_data, config, spec, seeds[i])):
            assert other.status == outs[i].status
            assert_history_close(other.history, outs[i].history, tol=1e-4)
    last = reports[-1]
    assert last.epoch == 2
    for i, status in enumerate(statuses):
        assert last.statuses[i] == status
        assert math.isnan(last.values["loss"][i]) == (status == DIVERGED)


def test_all_diverged_stops_early(lesson_data):
    config = cfg(**{**DIVERGING, "lr": 1e26, "epochs": 50})
    reports = []
    outs = engine.train_batched(lesson_data, config, parse_spec("normal:std=1"), [0, 1], on_epoch=reports.append)
    assert [o.status for o in outs] == [DIVERGED, DIVERGED]
    assert len(reports) < 5  # it did not go on for 50 epochs


def test_nan_at_epoch_0_is_diverged(lesson_data):
    # Linear layers of N(0, 1e30) weights: +inf and -inf meet in the last layer, the untrained logits are nan.
    config, spec = cfg(hidden=(8, 8), activation="linear"), parse_spec("normal:std=1e30")
    out = engine.train_batched(lesson_data, config, spec, [0])[0]
    assert out.status == DIVERGED and out.history == ()
    assert engine.train_reference(lesson_data, config, spec, 0).status == DIVERGED


def test_saturated_model_has_keras_clipped_loss(lesson_data):
    # Huge but finite logits: Keras clips probabilities to [1e-7, 1 - 1e-7], so the loss stays finite (at most
    # -log(1e-7) = 16.1 per example) and the run is not counted as diverged.
    out = engine.train_batched(lesson_data, cfg(epochs=1), parse_spec("constant:value=1e6"), [0])[0]
    assert out.status == OK
    assert 0 < out.history[0]["loss"] <= -math.log(1e-7) + 1e-3


@pytest.mark.parametrize("train", ["batched", "reference"])
def test_cancel_before_training(lesson_data, train):
    cancel = threading.Event()
    cancel.set()
    spec = parse_spec("he_normal")
    if train == "batched":
        outs = engine.train_batched(lesson_data, cfg(), spec, [1, 2], cancel)
    else:
        outs = [engine.train_reference(lesson_data, cfg(), spec, 1, cancel)]
    for out in outs:
        assert out.status == CANCELLED
        assert [h["epoch"] for h in out.history] == [0]


def test_cancel_during_training_stops_at_the_next_batch(lesson_data):
    cancel = threading.Event()
    epochs_seen = []

    def on_epoch(report):
        epochs_seen.append(report.epoch)
        if report.epoch == 1:
            cancel.set()

    outs = engine.train_batched(lesson_data, cfg(epochs=5), parse_spec("uniform"), [1], cancel, on_epoch)
    assert outs[0].status == CANCELLED
    assert [h["epoch"] for h in outs[0].history] == [0, 1]
    assert epochs_seen == [0, 1]


def test_on_epoch_reports_every_epoch(lesson_data):
    reports = []
    outs = engine.train_batched(lesson_data, cfg(epochs=3), parse_spec("normal"), [1, 2], on_epoch=reports.append)
    assert [r.epoch for r in reports] == [0, 1, 2, 3]
    for r in reports:
        assert r.statuses == (OK, OK)
        for m in METRICS:
            assert r.values[m] == tuple(o.history[r.epoch][m] for o in outs)


def test_batch_size_larger_than_the_data(lesson_data):
    out = engine.train_batched(lesson_data, cfg(batch_size=5000, epochs=1), parse_spec("zeros"), [0])[0]
    ref = engine.train_reference(lesson_data, cfg(batch_size=5000, epochs=1), parse_spec("zeros"), 0)
    assert out.status == OK
    assert_history_close(out.history, ref.history)


def test_the_lessons_numbers_did_not_move():
    """Sweep 1 of `initdash --seed 1` as initdash 0.1.0 computed it: every initializer's final numbers.

    Exact on one machine; across CPUs (an Intel and an AMD one here) float32 sums in another SIMD order move the
    loss in its 9th digit, so the loss is compared to 1e-8 relative and the accuracy (a count) exactly."""
    from initdash.sweep import run_seeds

    before = {"zeros": (0.5399481275287512, 0.8616504854368932), "uniform": (0.538568500998487, 0.8495145631067961),
              "normal": (0.5519443545429135, 0.8567961165048543),
              "he_normal": (0.3596727644772404, 0.8470873786407767),
              "lecun_uniform": (0.45625862674997403, 0.8349514563106796)}
    data, config = load(), experiment(seed=1)
    for label, (loss, val_accuracy) in before.items():
        (out,) = engine.train_batched(data, config, parse_spec(label), run_seeds(1, 1, label, 1))
        assert out.history[-1]["loss"] == pytest.approx(loss, rel=1e-8, abs=0), label
        assert out.history[-1]["val_accuracy"] == val_accuracy, label
