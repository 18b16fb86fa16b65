"""The batched engine gives every model the history the per-model reference engine gives it, to 1e-5."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from fakes import experiment  # noqa: E402
from helpers import recorded_sweep  # noqa: E402

from initdash import engine  # noqa: E402
from initdash.data import load  # noqa: E402
from initdash.events import DIVERGED, METRICS, OK  # noqa: E402
from initdash.initializers import parse_list, parse_spec  # noqa: E402
from initdash.models.spec import ACTIVATIONS  # noqa: E402

TOL = 1e-5
BATCH = 50
SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def data():
    """The default banknote-like data, its training set cut to 230 rows (4 full batches and one of 30) for speed."""
    ds = load()
    ds = replace(ds, x_train=ds.x_train[:230], y_train=ds.y_train[:230])
    assert len(ds.y_train) % BATCH, "the batch size must leave a partial last batch"
    return ds


def assert_same(batched, reference) -> None:
    """Same status, same number of epochs, every metric within TOL."""
    assert batched.seed == reference.seed
    assert batched.status == reference.status
    assert len(batched.history) == len(reference.history)
    for got, want in zip(batched.history, reference.history):
        assert got["epoch"] == want["epoch"]
        for m in METRICS:
            assert abs(got[m] - want[m]) <= TOL, (m, got["epoch"], got[m], want[m])


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize(("hidden", "activation", "init"), [
    ((), "relu", "normal"),
    ((), "relu", "normal:std=10"),  # many outputs beyond the loss's clip, where the gradient is 0
    ((8, 8), "tanh", "he_normal"),
], ids=["lesson", "lesson-saturated", "mlp-8-8-tanh"])
def test_batched_equals_reference(data, optimizer, hidden, activation, init):
    config = experiment(hidden=hidden, activation=activation, optimizer=optimizer, batch_size=BATCH,
                              epochs=4)
    spec = parse_spec(init)
    outcomes = engine.train_batched(data, config, spec, SEEDS)
    assert [o.status for o in outcomes] == [OK] * len(SEEDS)
    for seed, got in zip(SEEDS, outcomes):
        assert_same(got, engine.train_reference(data, config, spec, seed))


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_hand_written_activation_gradient_equals_autograd(data, optimizer, activation):
    """The fast path's backward leans on private torch.ops.aten functions: each one checked against autograd."""
    config = experiment(hidden=(8, 8), activation=activation, optimizer=optimizer, batch_size=BATCH, epochs=2,
                        lr=0.05 if optimizer == "sgd" else None)
    spec = parse_spec("glorot_uniform")
    for seed, got in zip(SEEDS[:2], engine.train_batched(data, config, spec, SEEDS[:2])):
        assert_same(got, engine.train_reference(data, config, spec, seed))


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize("hidden", [(), (8,)], ids=["linear", "mlp"])
def test_k_classes_softmax_gradient_equals_autograd(optimizer, hidden):
    wine = load("wine")  # 3 classes: softmax and sparse categorical cross-entropy, written out by hand
    config = experiment(hidden=hidden, activation="tanh", optimizer=optimizer, batch_size=16, epochs=3)
    spec = parse_spec("he_normal")
    for seed, got in zip(SEEDS, engine.train_batched(wine, config, spec, SEEDS)):
        assert_same(got, engine.train_reference(wine, config, spec, seed))


def test_zeros_init_starts_at_ln2(data):
    config = experiment(batch_size=BATCH, epochs=1)
    (outcome,) = engine.train_batched(data, config, parse_spec("zeros"), (7,))
    assert outcome.history[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert outcome.history[0]["val_loss"] == pytest.approx(math.log(2), abs=1e-6)


# The loss clips probabilities to [1e-7, 1 - 1e-7], so only an overflow makes a model diverge: a huge init
# overflows the logits before training starts; an absurd learning rate overflows the weights mid-training
# (he_normal below), while zeros and a saturated std=10 model get no gradient from it and stay finite.
@pytest.mark.parametrize(("optimizer", "lr", "runs", "expected"), [
    ("rmsprop", None, [("he_normal", 1), ("normal:std=1e15", 2), ("he_normal", 3)], ["ok", "at start", "ok"]),
    ("sgd", 1e20, [("zeros", 1), ("he_normal", 2), ("normal:std=10", 3)], ["ok", "mid-training", "ok"]),
], ids=["at-start", "mid-training"])
def test_diverging_models_do_not_disturb_the_others(data, optimizer, lr, runs, expected):
    config = experiment(hidden=(8, 8), activation="relu", optimizer=optimizer, lr=lr, batch_size=BATCH,
                              epochs=4)
    runs = [(parse_spec(init), seed) for init, seed in runs]
    outcomes = engine.train_many(data, config, runs)
    for outcome, want in zip(outcomes, expected):
        if want == "ok":
            assert outcome.status == OK and len(outcome.history) == config.epochs + 1
        else:
            assert outcome.status == DIVERGED
            assert (len(outcome.history) == 0) if want == "at start" else (1 <= len(outcome.history) <= config.epochs)
    for (spec, seed), got in zip(runs, outcomes):
        assert_same(got, engine.train_reference(data, config, spec, seed))


def test_a_sweep_gives_each_initializer_the_numbers_of_its_unit(data):
    """The unit of work (one initializer's runs) is what every executor trains: same seed, same numbers."""
    config = experiment(hidden=(8,), initializers=parse_list("zeros,he_normal,normal"), repeats=2,
                        batch_size=BATCH, epochs=2, seed=11)
    session, sweep = recorded_sweep(config, data)
    for unit in sweep.units:
        alone = engine.train_many(data, config, [(unit.spec, s) for s in unit.seeds], data_seeds=unit.data_seeds)
        runs = session.current.initializers[unit.label]
        assert runs.seeds == unit.seeds
        assert [list(o.history) for o in alone] == runs.histories  # bit for bit


@pytest.mark.parametrize(("model", "activation", "name", "optimizer", "hidden", "rows"), [
    ("linear", "relu", "banknote-like", "rmsprop", (), 300),  # one output: ATen's matrix-vector kernel alone
    ("mlp", "tanh", "banknote-like", "adam", (16, 16), 300),  # vector tanh and sigmoid round unlike scalar ones
    ("mlp", "gelu", "digits", "sgd", (16, 16), 300),
    ("mlp", "sigmoid", "moons", "rmsprop", (16, 16), 300),
    ("mlp", "tanh", "moons", "adam", (3,), 297),  # a last batch of one row, a layer of 3: the smallest blocks
    ("cnn", "relu", "digits", "rmsprop", (16, 16), 300),  # torch.func: vmap from two copies, plain for one
])
def test_a_runs_numbers_do_not_depend_on_how_many_share_its_unit(model, activation, name, optimizer, hidden, rows,
                                                                 monkeypatch):
    """Bit for bit: seed 3 trained alone, beside one other run, or beside five, with a partial last batch, the
    evaluation in one pass of all rows and models, and in passes forced down to 64 rows and one model."""
    from initdash.engine import loop
    from initdash.models.spec import ModelSpec

    ds = load(name)
    ds = replace(ds, x_train=ds.x_train[:rows], y_train=ds.y_train[:rows])
    spec = ModelSpec(name=model, hidden=hidden, channels=(2, 4), activation=activation)
    config = experiment(model=spec, optimizer=optimizer, epochs=2, batch_size=37, layer_stats=model != "linear")
    he = parse_spec("he_normal")

    def seed_3(size: int):
        return engine.train_many(ds, config, [(he, 3)] + [(he, 10 + i) for i in range(size - 1)])[0]

    # One copy of a torch.func model trains as a plain module, the reference loop itself; batched copies agree
    # from two up. The hand-written engine gives one model alone what it gives it among others.
    same_as_one = (1, 2, 6) if model != "cnn" else (2, 6)
    for forced in (False, True):  # one pass of every row and model; passes of 64 rows and one model
        if forced:
            monkeypatch.setattr(loop, "EVAL_FLOATS", 64 * 16)  # sums in another order: compared among themselves
        runs = [seed_3(size) for size in same_as_one]
        assert len(runs[0].history) == config.epochs + 1
        assert all(run == runs[0] for run in runs)  # status, every metric and layer statistic of every epoch
        if model == "cnn":
            assert seed_3(1) == engine.train_reference(ds, config, he, 3)


@pytest.mark.parametrize("k", [1, 10])
def test_a_models_evaluation_sums_do_not_depend_on_the_other_rows(k):
    """Head.sums of a model (first, last or alone) are the same bit for bit whatever other models share the pass."""
    from initdash.engine.losses import Head

    head, gen = Head(k), torch.Generator().manual_seed(0)
    for n in (1, 7, 16, 17, 33, 413):
        logits = torch.randn(9, n, *((k,) if k > 1 else ()), generator=gen) * 3
        target = (torch.rand(n, generator=gen) * k).floor() if k > 1 else (torch.rand(n, generator=gen) > 0.5).float()
        for m in range(2, 10):
            both = head.sums(logits[:m], target, n // 2)
            for row in (0, m - 1):
                alone = head.sums(logits[row:row + 1], target, n // 2)
                assert all(torch.equal(a[0], b[row]) for a, b in zip(alone, both)), (n, m, row)
