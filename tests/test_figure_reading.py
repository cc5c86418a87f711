"""Every figure reads without the code: read back from the rendered matplotlib figures of a
smoke-like synthetic eps sweep (one seed, four layers, three epochs, every kind, layers fixed at
eps=0.3 and none at 0.1, arms equal until a layer is fixed), each legend entry names something
drawn, no two texts overlap, no panel is flat, arms that coincide are told apart, log ticks are
plain numbers, and each caption says what is drawn."""

from __future__ import annotations

import math
import re
import zlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

from analysis.figures.classifier import classifier_over_epochs
from analysis.figures.collapse import SYMBOLS
from analysis.figures.kinds import controls
from analysis.figures.labels import text_box
from analysis.figures.sets import FIGURE_SETS
from analysis.figures.style import NothingToDraw
from analysis.figures.training import training_curves
from analysis.loading.load import Study, load_all
from analysis.tables.controls import controls as controls_table
from nc_core.fixing.etf import FIXED_KINDS
from nc_core.results.atomic import write_parquet_atomic
from nc_core.results.records import EpochRecord, LayerRecord, to_frames
from nc_core.train.config import RunConfig
from tests.synthetic_results import make_results

EPOCHS, NAMES, K = 3, ["fc1", "fc2", "fc3", "classifier"], 10


def smoke_run(cfg: RunConfig, *, flat: tuple[str, ...] = ()) -> list[EpochRecord]:
    """Records like a smoke study's: values depend on the seed, layer and epoch only until a
    layer is fixed (so arms of one seed coincide there); at eps=0.3 fc2..classifier are fixed
    at the end of epoch 2, at eps=0.1 nothing. The rank of the centred means is K - 1
    everywhere, as in a trained MLP; `flat` columns are made constant too."""
    rng = np.random.default_rng(cfg.seed)
    after = np.random.default_rng(zlib.crc32(f"{cfg.kind}{cfg.eps}{cfg.seed}".encode()))
    fixing = cfg.policy == "adaptive" and cfg.eps is not None and cfg.eps > 0.2
    records = []
    for epoch in range(1, EPOCHS + 1):
        fixed_now = fixing and epoch == EPOCHS
        layers = {}
        for i, name in enumerate(NAMES):
            fixed = fixed_now and i >= 1
            noise = (after if fixed or (fixed_now and i == 0) else rng).random(12)
            acc = 0.62 + 0.05 * epoch + 0.02 * i + 0.01 * noise[0]
            values = {
                "train_ncc_acc": acc,
                "test_ncc_acc": acc - 0.04 - 0.01 * noise[1],
                "nc1": 2.0 / (epoch * (i + 1)) + 0.05 * noise[2],
                "nc2_equinorm": 0.2 + 0.05 * noise[3],
                "nc2_equiangle": 0.3 + 0.1 * noise[4],
                "etf_distance": 0.7 + 0.2 * noise[5],
                "cdnv": 0.7 / (epoch + i) + 0.02 * noise[6],
                "erank_cov": 4 + 3 * noise[7],
                "erank_means": 5 + 2 * noise[8],
                "probe_train_acc": 0.85 + 0.05 * noise[9],
                "probe_test_acc": 0.75 + 0.05 * noise[10],
                "rank_means": float(K - 1),
            }
            for column in flat:
                values[column] = 0.5
            is_head = name == "classifier"
            layers[name] = LayerRecord(
                index=i,
                nc3=0.9 / epoch + 0.1 * noise[11] if is_head else math.nan,
                nc4=0.3 / epoch + 0.02 * noise[11] if is_head else math.nan,
                train_ncc_wrong=round((1 - acc) * 1000),
                nc_n=1000,
                fixed_as=cfg.kind if fixed else "",
                fixed_epoch=2 if fixed else -1,
                **values,
            )
        n_fixed = 3 if fixed_now else 0
        train = 0.6 + 0.08 * epoch - (0.2 * n_fixed * after.random() if n_fixed else 0)
        records.append(
            EpochRecord(
                epoch=epoch,
                train_loss=1 - train,
                train_acc=train,
                test_loss=1 - train + 0.05,
                test_acc=train - 0.05,
                epoch_lr=cfg.lr,
                trainable_params=59594 - 2944 * n_fixed,
                total_params=59594,
                optimizer_state_bytes=8 * 59594,
                epoch_seconds=1.0,
                eval_seconds=0.1,
                fixed_layers=NAMES[1:] if fixed_now else [],
                layers=layers,
            )
        )
    return records


def write_smoke(root, name: str = "smoke", *, seeds=(0,), flat: tuple[str, ...] = ()):
    base = RunConfig.of(model="mlp", width=64, depth=4, epochs=EPOCHS, subset=100, seed=0)
    configs = [base.replace(seed=s) for s in seeds] + [
        base.replace(policy="adaptive", eps=eps, kind=kind, seed=s)
        for eps in (0.1, 0.3)
        for kind in FIXED_KINDS
        for s in seeds
    ]
    frames = [
        to_frames(smoke_run(cfg, flat=flat), cfg, study=name, trial_id=f"{name}_{n:03d}")
        for n, cfg in enumerate(configs)
    ]
    write_parquet_atomic(pd.concat([f[0] for f in frames]), root / name / "epochs.parquet")
    write_parquet_atomic(pd.concat([f[1] for f in frames]), root / name / "layers.parquet")
    return root


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    write_smoke(root)
    write_smoke(root, "smoke2", seeds=(0, 1))
    write_smoke(root, "flat", flat=("nc2_equinorm",))
    return load_all(root)


def drawn_figures(study: Study, eps: float | None = None):
    """[(job, figure, note)] of every figure of the study's figure set that has data."""
    out = []
    for job in FIGURE_SETS[study.figure_set](study, eps):
        try:
            fig, note = job.draw()
        except NothingToDraw:
            continue
        out.append((job, fig, note))
    return out


def one_figure(study: Study, stem: str):
    """(job, figure, note) of the figure whose file stem ends with `stem`; the others closed."""
    drawn = drawn_figures(study)
    for job, fig, _ in drawn:
        if not job.stem.endswith(stem):
            plt.close(fig)
    return next(d for d in drawn if d[0].stem.endswith(stem))


# --- generic checks of a rendered figure ----------------------------------------------------


def _finite_points(artist) -> np.ndarray:
    """(n, 2) finite data points an artist draws (empty when it draws none)."""
    if isinstance(artist, ErrorbarContainer):
        artist = artist.lines[0]
    if isinstance(artist, Line2D):
        x = np.asarray(artist.get_xdata(), float)
        y = np.asarray(artist.get_ydata(), float)
        xy = np.column_stack(np.broadcast_arrays(x, y)) if x.size and y.size else np.zeros((0, 2))
    elif isinstance(artist, PathCollection):
        xy = np.asarray(artist.get_offsets(), float).reshape(-1, 2)
    elif isinstance(artist, PolyCollection):
        paths = artist.get_paths()
        xy = np.vstack([p.vertices for p in paths]) if paths else np.zeros((0, 2))
    else:
        return np.ones((1, 2))  # a patch or image: drawn when present
    return xy[np.isfinite(xy).all(axis=1)]


def drawn_labels(axes) -> set[str]:
    """Labels of the artists of `axes` that draw at least one finite point."""
    out = set()
    for ax in axes:
        for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.containers]:
            label = artist.get_label() or ""
            if label and not label.startswith("_") and len(_finite_points(artist)):
                out.add(label)
    return out


def undrawn_legend_entries(fig) -> list[str]:
    """Legend labels that no artist with data carries (an axes' legend: in that axes; a figure
    legend: in any of its axes)."""
    missing = []
    legends = [(leg, fig.axes) for leg in fig.legends]
    legends += [(ax.get_legend(), [ax]) for ax in fig.axes if ax.get_legend() is not None]
    for legend, axes in legends:
        have = drawn_labels(axes)
        missing += [t.get_text() for t in legend.get_texts() if t.get_text() not in have]
    return missing


def visible_texts(fig) -> list:
    """Every text drawn: suptitle and figure texts, each visible axes' titles, axis labels,
    drawn tick labels and texts, and every legend's title and entries."""
    fig.canvas.draw()
    texts = list(fig.texts)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis._update_ticks():  # the ticks inside the view, as drawn
                texts += [tick.label1, tick.label2]
        texts += list(ax.texts)
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for legend in legends:
        texts += [legend.get_title(), *legend.get_texts()]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def overlapping_texts(fig) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    boxes = []
    for t in visible_texts(fig):
        b = text_box(t, renderer)
        boxes.append((t.get_text(), Bbox.from_extents(b.x0 + 1, b.y0 + 1, b.x1 - 1, b.y1 - 1)))
    return [
        (a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1 :] if ba.overlaps(bb)
    ]


def data_lines(ax) -> list[Line2D]:
    """Lines drawn in data coordinates (not axhline/axvline, which span the axes)."""
    return [ln for ln in ax.lines if ln.get_transform() == ax.transData]


def all_text(fig) -> str:
    return "\n".join(t.get_text() for t in visible_texts(fig))


# --- every figure ---------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [None, 0.1])
def test_every_legend_entry_names_an_artist_drawn_with_data(smoke, eps):
    for job, fig, _ in drawn_figures(smoke["smoke"], eps) + drawn_figures(smoke["smoke2"], eps):
        assert undrawn_legend_entries(fig) == [], job.stem
        plt.close(fig)


def test_no_legend_names_a_fixed_layer_when_none_was_fixed(smoke):
    for job, fig, _ in drawn_figures(smoke["smoke"], 0.1):  # nothing is fixed at eps=0.1
        if job.stem.endswith(("tradeoff", "training")):
            plt.close(fig)
            continue
        legend = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        assert not any("fixed" in t for t in legend), (job.stem, legend)
        assert not any(ln.get_marker() == "x" for ax in fig.axes for ln in ax.lines), job.stem
        plt.close(fig)


def test_every_legend_of_the_other_figure_sets_names_something_drawn(tmp_path):
    studies = load_all(make_results(tmp_path / "results"))
    for study in studies.values():
        for job, fig, _ in drawn_figures(study):
            assert undrawn_legend_entries(fig) == [], job.stem
            plt.close(fig)
    fig, _ = controls(controls_table(list(studies.values())))
    assert undrawn_legend_entries(fig) == []
    plt.close(fig)


@pytest.mark.parametrize("name", ["smoke", "smoke2"])
def test_no_two_texts_of_any_figure_overlap(smoke, name):
    for job, fig, _ in drawn_figures(smoke[name]):
        assert overlapping_texts(fig) == [], job.stem
        plt.close(fig)


def test_the_overlap_check_sees_overlapping_labels():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.text(0.5, 0.5, "one label")
    ax.text(0.5, 0.5, "another label")
    assert overlapping_texts(fig) == [("one label", "another label")]
    plt.close(fig)


def test_no_line_of_a_per_layer_panel_is_flat_and_the_rank_of_the_means_is_not_drawn(smoke):
    for job, fig, _ in drawn_figures(smoke["smoke"]):
        if not job.stem.endswith(("collapse_epochs", "geometry_epochs", "depth_profile")):
            plt.close(fig)
            continue
        for ax in fig.axes:
            assert not ax.get_ylabel().startswith("rank")  # K - 1 everywhere: not drawn
            for ln in data_lines(ax):
                y = np.asarray(ln.get_ydata(), float)
                y = y[np.isfinite(y)]
                if len(y) >= 2:
                    assert np.ptp(y) > 0, (job.stem, ax.get_ylabel(), ln.get_label())
        plt.close(fig)


def test_a_measure_equal_everywhere_is_left_out_and_named(smoke):
    for job, fig, note in drawn_figures(smoke["flat"]):
        if job.stem.endswith(("geometry_epochs", "depth_profile")):
            labels = [ax.get_ylabel().replace("\n", " ") for ax in fig.axes]
            assert not any("equinorm" in t for t in labels), job.stem
            assert "nc2_equinorm (= 0.5 everywhere)" in note
        plt.close(fig)


def arm_points(ax) -> dict[str, set]:
    """Each colour's (arm's) finite (x, y) points drawn in data coordinates."""
    out: dict[str, set] = {}
    for ln in data_lines(ax):
        pts = _finite_points(ln)
        out.setdefault(str(ln.get_color()), set()).update(map(tuple, np.round(pts, 9)))
    return out


@pytest.mark.parametrize("stem", ["depth_profile", "classifier_epochs"])
def test_arms_whose_values_coincide_are_drawn_apart(smoke, stem):
    job, fig, _ = one_figure(smoke["smoke"], stem)
    for ax in fig.axes:
        arms = arm_points(ax)
        if not arms:
            continue
        assert len(arms) == 5  # the baseline and four kinds, each its own colour
        for a in arms:
            for b in arms:
                assert a == b or not (arms[a] & arms[b]), (ax.get_ylabel(), a, b)
    plt.close(fig)


def test_log_axes_read_as_plain_numbers_and_every_symbol_is_defined(smoke):
    for job, fig, _ in drawn_figures(smoke["smoke"]):
        logs = [ax for ax in fig.axes if ax.get_yscale() == "log"]
        fig.canvas.draw()
        for ax in logs:
            labels = [t.label1.get_text() for t in ax.yaxis._update_ticks()]
            shown = [t for t in labels if t]
            assert shown, (job.stem, ax.get_ylabel())
            for t in shown:
                assert re.fullmatch(r"[0-9.]+", t.replace("−", "-")), (job.stem, t)
        text = all_text(fig)
        for symbol in ("Σ_W", "Σ_B", "Σ_T"):
            if symbol in text:
                assert symbol in job.shows and SYMBOLS in job.shows, (job.stem, symbol)
        plt.close(fig)
    assert "total covariance" in SYMBOLS and "within-class" in SYMBOLS


# --- single figures -------------------------------------------------------------------------


def test_nc3_and_nc4_are_drawn_per_epoch_for_the_classifier(smoke):
    s = smoke["smoke"]
    measured = s.layers.dropna(subset=["nc3"])["layer"].unique()
    assert list(measured) == ["classifier"]  # the tables carry NC3/NC4 for the classifier only
    job, fig, note = one_figure(s, "classifier_epochs")
    assert "classifier only" in job.shows and "per epoch" in job.shows
    assert "classifier" in fig._suptitle.get_text() and "Measured at classifier" in note
    assert [ax.get_ylabel().split("\n")[0][:3] for ax in fig.axes] == ["NC3", "NC4"]
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch"
        xs = {round(x) for ln in data_lines(ax) for x in _finite_points(ln)[:, 0]}
        assert xs == set(range(1, EPOCHS + 1))
    plt.close(fig)
    with pytest.raises(NothingToDraw):
        classifier_over_epochs(s.layers.assign(nc3=np.nan, nc4=np.nan), [("a", "a", ["x"])])


def training_of(study):
    final = study.epochs.groupby("trial_id").tail(1)
    base = list(final.loc[final["policy"] == "none", "trial_id"])
    arm = final[(final["kind"] == "rotated") & (final["eps"] == 0.3)]
    return training_curves(study, [("eps=0.3 rotated", "rotated", list(arm["trial_id"]))], base)


def test_training_draws_the_baseline_beneath_the_arm_and_a_ci_only_from_two_seeds(smoke):
    for name, seeds in (("smoke", 1), ("smoke2", 2)):
        fig, _ = training_of(smoke[name])
        top = fig.axes[0]
        base = [ln for ln in top.lines if ln.get_label().startswith("baseline")]
        arm = [ln for ln in top.lines if ln.get_label().startswith("eps=0.3")]
        assert len(base) == len(arm) == 2
        assert max(ln.get_zorder() for ln in base) < min(ln.get_zorder() for ln in arm)
        assert min(ln.get_linewidth() for ln in base) > max(ln.get_linewidth() for ln in arm)
        bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
        text = all_text(fig)
        if seeds == 1:
            assert "CI" not in text and bands == []
        else:
            assert "band: 95% CI" in fig._suptitle.get_text() and bands
        plt.close(fig)


def test_the_heat_map_caption_counts_its_panels(smoke):
    job, fig, _ = one_figure(smoke["smoke"], "heatmap")
    panels = [ax for ax in fig.axes if any(isinstance(a, AxesImage) for a in ax.images)]
    said = re.search(r"for (\d+) trials, one panel each", job.shows)
    assert said and int(said.group(1)) == len(panels) == 5
    for ax in panels:
        assert ax.get_title() in job.shows
    plt.close(fig)


def cell(n: int, x: float, acc: float, arm: str = "canonical", ci: float = math.nan) -> dict:
    return dict(study="s", layers_fixed=x, arm=arm, n=n, test_acc_mean=acc, test_acc_std=1.0,
                test_acc_ci95=ci, train_acc_mean=90.0)  # fmt: skip


def test_controls_at_one_seed_and_one_count_draw_markers_and_say_no_ci():
    table = pd.DataFrame(
        [cell(1, 3, 40.0), cell(1, 3, 70.0, "freeze"), cell(1, np.nan, 76.0, "baseline")]
    )
    fig, _ = controls(table)
    assert "CI" not in all_text(fig)
    ax = fig.axes[0]
    points = [ln for ln in ax.lines if ln.get_marker() in ("o", "^")]
    assert len(points) == 2 and all(ln.get_linestyle() == "None" for ln in points)
    handles = fig.legends[0].legend_handles
    assert all(h.get_linestyle() == "None" for h in handles if h.get_label() != "baseline")
    assert undrawn_legend_entries(fig) == []
    plt.close(fig)
    two = pd.DataFrame(
        [cell(2, 1, 40.0, ci=2.0), cell(2, 2, 45.0, ci=2.0), cell(2, np.nan, 76.0, "baseline", 1.0)]
    )
    fig, _ = controls(two)
    assert "95% CI" in all_text(fig)
    assert any(ln.get_linestyle() == "-" for ln in fig.axes[0].lines)
    plt.close(fig)


def test_per_layer_figures_are_drawn_and_captioned_at_an_eps_where_layers_were_fixed(smoke):
    for eps, why in ((None, "chosen from the data"), (0.1, "given by --eps")):
        want = "0.3" if eps is None else "0.1"
        for job, fig, _ in drawn_figures(smoke["smoke"], eps):
            if job.stem.endswith("tradeoff"):
                plt.close(fig)
                continue
            assert f"eps={want}" in job.title and f"Drawn at eps={want}: {why}" in job.shows
            legend = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
            legend += [t.get_text() for ax in fig.axes if ax.get_legend()
                       for t in ax.get_legend().get_texts()]  # fmt: skip
            legend += [ax.get_title() for ax in fig.axes]
            arms = [t.split("\n")[0] for t in legend if t.startswith("layer eps=")]
            assert arms and all(t.startswith(f"layer eps={want} ") for t in arms), job.stem
            plt.close(fig)
