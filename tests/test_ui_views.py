"""What the views compute, as plain data: labels, colours, axis ticks, ranks mid-sweep, layer names, paths."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from recorded import LONG_SPECS, recorded_session
from rich.color import Color, ColorSystem

from initdash.events import OK, EpochDone, EpochReport, UnitStarted
from initdash.initializers import parse_list
from initdash.labels import LABEL_WIDTH, short_labels, shorten_labels
from initdash.ui.chart import log_labels, log_ticks
from initdash.ui.palette import BAND_MARKER, COLORS, MARKERS
from initdash.ui.views import layer_note, layer_ticks, leaderboard_rows, live_ranks, wrap_path

# --- colours: CIELAB distance of every pair, for normal sight and simulated colour blindness -------------------

# Machado, Oliveira & Fernandes 2009, severity 1.0, on linear RGB.
PROTAN = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]])
DEUTAN = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]])


def lab(rgb, simulate=None) -> np.ndarray:
    """CIELAB (D65) of sRGB colours, optionally as seen with a colour-vision deficiency."""
    c = np.asarray(rgb, dtype=float) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if simulate is not None:
        linear = np.clip(linear @ simulate.T, 0, 1)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def min_distance(colors, simulate=None) -> float:
    points = lab(colors, simulate)
    return min(float(np.linalg.norm(points[i] - points[j])) for i, j in itertools.combinations(range(len(colors)), 2))


@pytest.mark.parametrize("simulate, least", [(None, 35), (PROTAN, 20), (DEUTAN, 20)],
                         ids=["normal", "protan", "deutan"])
def test_every_pair_of_colours_is_far_apart(simulate, least):
    assert min_distance(COLORS, simulate) >= least
    # The palette the issue found (Okabe-Ito's RGB, shown by a 256-colour terminal) fails the same test.
    okabe = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
             (204, 121, 167), (255, 255, 255)]
    shown = [Color.from_rgb(*c).downgrade(ColorSystem.EIGHT_BIT).get_truecolor() for c in okabe]
    assert min_distance(shown, simulate) < least


def test_a_256_colour_terminal_shows_exactly_these_colours():
    for rgb in COLORS:  # each is a colour of the xterm cube: no terminal rounds two of them to one
        assert tuple(Color.from_rgb(*rgb).downgrade(ColorSystem.EIGHT_BIT).get_truecolor()) == rgb


def test_band_mark_is_no_initializers_marker():
    assert BAND_MARKER not in MARKERS and len(set(MARKERS)) == len(MARKERS)


# --- labels ----------------------------------------------------------------------------------------------------

def test_short_labels_are_unique_short_and_keep_what_differs():
    specs = parse_list(LONG_SPECS + ",normal:std=0.5,normal:std=1,variance_scaling:mode=fan_avg,he_normal:scale=2")
    short = short_labels(specs)
    assert list(short) == [s.label for s in specs]
    assert len(set(short.values())) == len(specs) and all(len(v) <= LABEL_WIDTH for v in short.values())
    assert short["zeros"] == "zeros" and short["normal:std=0.5"] == "normal:std=0.5"
    assert short["orthogonal:gain=1.5"] == "orthogonal:1.5"  # the whole spec is one character too long
    assert short["variance_scaling:scale=2,mode=fan_out,distribution=uniform"] == "varian…:2,out,unif"
    # scale=2 is he_normal's own default, so both would read `he_normal`: two that cannot be told apart keep it all
    assert (short["he_normal"], short["he_normal:scale=2"]) == ("he_normal", "he_normal:scale=2")
    lesson = parse_list("zeros,uniform,normal,he_normal,lecun_uniform")
    assert short_labels(lesson) == {s.label: s.label for s in lesson}


def test_same_name_specs_show_only_the_parameter_that_differs():
    short = short_labels(parse_list("normal:mean=0.5,std=0.5,normal:mean=0.5,std=2"))
    assert list(short.values()) == ["normal:std=0.5", "normal:std=2"]
    longer = short_labels(parse_list("random_normal:mean=0.5,std=0.5,random_normal:mean=0.5,std=2"))
    assert list(longer.values()) == ["random_normal:0.5", "random_normal:2"]  # past 18 characters: values only


def test_statistics_sentence_names_initializers_by_short_label():
    short = short_labels(parse_list(LONG_SPECS))
    text = "variance_scaling:scale=2,mode=fan_out,distribution=uniform beats orthogonal:gain=1.5 in 78% of run pairs"
    assert shorten_labels(text, short) == "varian…:2,out,unif beats orthogonal:1.5 in 78% of run pairs"


# --- log axis ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("low, high", [(0.35, 0.72), (0.44, 0.46), (0.499, 0.5), (0.08, 0.45), (0.02, 3.0),
                                       (1e-6, 1.0), (0.1, 1000.0), (2.0, 2.000001), (0.9, 11.0)])
def test_log_axis_has_three_readable_ticks_inside_any_range(low, high):
    lo, hi = math.log10(low), math.log10(high)
    if hi - lo < 0.02:  # what the chart does for a flat curve
        lo, hi = lo - 0.02, hi + 0.02
    ticks = log_ticks(lo, hi)
    labels = log_labels(ticks)
    assert len(ticks) >= 3 and all(lo - 1e-9 <= t <= hi + 1e-9 for t in ticks)
    assert len(set(labels)) == len(labels) and all(len(label) <= 6 for label in labels)
    assert ticks == sorted(ticks)


def test_log_labels_read_as_numbers():
    assert log_labels([-1.0, 0.0, 1.0, 2.0]) == ["0.1", "1", "10", "100"]
    assert log_labels([-6.0, -5.0]) == ["1e-6", "1e-5"]


# --- ranks mid-sweep --------------------------------------------------------------------------------------------

def epoch_done(sid, label, epoch, value):
    values = {m: (value,) for m in ("loss", "accuracy", "val_loss", "val_accuracy")}
    return EpochDone(sid, label, EpochReport(epoch, values, (OK,)))


def test_ranks_mid_sweep_compare_at_the_epoch_every_unit_has_reached():
    session = recorded_session(sweeps=1)
    sid = session.next_sweep_id
    sweep = session.begin_sweep(sid)
    labels = session.labels()
    for label in labels:
        session.apply(UnitStarted(sid, label, (1,)))
    assert live_ranks(sweep, "val_accuracy") == ({}, None)  # nobody has an epoch yet
    for i, label in enumerate(labels):
        session.apply(epoch_done(sid, label, 0, 0.5 + 0.01 * i))  # epoch 0: the last is best
    session.apply(epoch_done(sid, labels[0], 1, 0.99))  # zeros runs ahead, to the top at epoch 1
    ranks, epoch = live_ranks(sweep, "val_accuracy")
    assert epoch == 0 and ranks[labels[-1]] == 1 and ranks[labels[0]] == len(labels)  # still compared at epoch 0
    rows = leaderboard_rows(session, None)
    assert [r.rank.split()[0] for r in rows] == [str(len(labels) - i) for i in range(len(labels))]
    for label in labels[1:]:
        session.apply(epoch_done(sid, label, 1, 0.6))
    ranks, epoch = live_ranks(sweep, "val_accuracy")
    assert epoch == 1 and ranks[labels[0]] == 1


def test_wins_and_spread_say_dash_before_the_first_complete_sweep():
    from initdash import stats

    session = recorded_session(sweeps=0)
    st = stats.compute(session)
    assert {(r.wins, r.spread) for r in leaderboard_rows(session, st)} == {("-", "-")}


# --- signal view and paths --------------------------------------------------------------------------------------

def test_layer_ticks_name_layers_shortened_or_numbered_with_a_note():
    names = ("features.0", "features.3", "classifier.1")
    assert layer_ticks(names, 110) == ["features.0", "features.3", "classifier.1"]
    assert layer_ticks(names, 40) == ["f.0", "f.3", "c.1"]
    assert layer_ticks(("net.layers.0", "net.layers.1"), 40) == ["layers.0", "layers.1"]  # never a bare `0`
    many = tuple(f"block{i}.conv" for i in range(21))
    assert layer_ticks(many, 50) == []  # the axis numbers them; the note names them
    note = layer_note(many, [], 78)
    assert len(note) <= 78 and note.startswith("layers: 1 block0.conv · 2 ") and note.endswith("· 21 block20.conv")
    assert " · … · " in note
    assert layer_note(many[:3], [], 200) == "layers: 1 block0.conv · 2 block1.conv · 3 block2.conv"
    assert layer_note(names, ["f.0", "f.3", "c.1"]) == ""


def test_paths_wrap_after_a_slash_never_inside_a_name():
    path = "/tmp/pytest-of-me/pytest-12/test_export0/initdash-20261130-150556.json"
    lines = wrap_path(path, 30).splitlines()
    assert "".join(lines) == path and all(len(line) <= 30 for line in lines)
    assert lines[-1] == "initdash-20261130-150556.json"


def test_header_names_no_sweep_before_the_first():
    from recorded import tiny_dataset

    from initdash.ui.views import header_text

    assert "sweep" not in header_text(recorded_session(sweeps=0), tiny_dataset())
    assert header_text(recorded_session(sweeps=2), tiny_dataset()).endswith("· sweep 2")
