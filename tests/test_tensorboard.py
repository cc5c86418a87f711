"""nc_core.results.tensorboard: the on-epoch logger writes event files that TensorBoard reads
back, with every per-epoch scalar and the per-layer NCC and NC1 at the epoch they were measured."""

from __future__ import annotations

import math

import pytest

from nc_core.results.records import EpochRecord, LayerRecord

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

from nc_core.results.tensorboard import TensorBoardLogger  # noqa: E402


def record(epoch: int, *, with_layers: bool = True) -> EpochRecord:
    layers = {
        name: LayerRecord(
            index=i,
            train_ncc_acc=0.5 + 0.1 * epoch + 0.01 * i,
            test_ncc_acc=0.4 + 0.1 * epoch,
            nc1=1.0 / (epoch + i),
            nc2_equinorm=0.1,
            nc2_equiangle=0.1,
            etf_distance=0.2,
        )
        for i, name in enumerate(["fc1", "classifier"])
    }
    return EpochRecord(
        epoch=epoch,
        train_loss=1.0 / epoch,
        train_acc=0.6 + 0.1 * epoch,
        test_loss=1.2 / epoch,
        test_acc=0.55 + 0.1 * epoch,
        epoch_lr=0.01,
        trainable_params=1000 - 100 * epoch,
        total_params=1000,
        optimizer_state_bytes=0,
        epoch_seconds=1.5,
        eval_seconds=0.1,
        pred_classes=10,
        pred_entropy=math.nan,  # not measured: skipped, never written as NaN
        fixed_layers=["classifier"] if epoch > 1 else [],
        layers=layers if with_layers else {},
    )


def test_event_files_read_back_with_epoch_scalars_and_per_layer_ncc_and_nc1(tmp_path):
    with TensorBoardLogger(tmp_path, run_name="run0") as log:
        for epoch in (1, 2, 3):
            log(record(epoch, with_layers=epoch != 2), None)
    events = EventAccumulator(str(tmp_path / "run0"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"accuracy/train", "accuracy/test", "loss/train", "params/trainable"} <= tags
    assert {"ncc_train/fc1", "ncc_test/classifier", "nc1/fc1", "params/layers_fixed"} <= tags
    assert "predictions/entropy" not in tags
    test = [(e.step, e.value) for e in events.Scalars("accuracy/test")]
    assert [s for s, _ in test] == [1, 2, 3]
    assert [v for _, v in test] == pytest.approx([0.65, 0.75, 0.85])
    ncc = [(e.step, e.value) for e in events.Scalars("ncc_train/classifier")]
    assert ncc == [(1, pytest.approx(0.61)), (3, pytest.approx(0.81))]  # epoch 2 not measured
    fixed = [e.value for e in events.Scalars("params/layers_fixed")]
    assert fixed == [0, 1, 1]


def test_cli_tensorboard_flag_writes_a_run_tensorboard_reads(tmp_path):
    from nc_core.cli.train import main

    board = tmp_path / "tb"
    args = ["--preset", "smoke", "--dataset", "synthetic", "--epochs", "2", "--quiet"]
    assert main([*args, "--tensorboard", str(board)]) == 0
    events = EventAccumulator(str(board))
    events.Reload()
    assert [e.step for e in events.Scalars("accuracy/test")] == [1, 2]
    assert {"ncc_train/fc1", "nc1/classifier"} <= set(events.Tags()["scalars"])


def test_tensorboard_into_a_file_is_refused_before_any_work(tmp_path, capsys):
    from nc_core.cli.train import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["--preset", "smoke", "--dataset", "synthetic", "--tensorboard", str(blocker)]
    assert main(args) == 2
    assert "--tensorboard" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_run_appears_in_the_hparams_dashboard_with_its_whole_config(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    from nc_core.results.tensorboard import HPARAM_METRICS
    from nc_core.train.presets import preset

    cfg = preset("smoke", dataset="synthetic", policy="adaptive", kind="rotated", eps=0.1)
    with TensorBoardLogger(tmp_path, run_name="run0", hparams=cfg.to_dict()) as log:
        log(record(1), None)
    events = EventAccumulator(str(tmp_path / "run0"))  # one folder: the run's own
    events.Reload()
    content = events.PluginTagToContent("hparams")
    data = {
        tag: plugin_data_pb2.HParamsPluginData.FromString(value) for tag, value in content.items()
    }
    start = next(d.session_start_info for d in data.values() if d.HasField("session_start_info"))
    got = {
        k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
        for k, v in start.hparams.items()
    }
    want = cfg.to_dict()
    assert set(got) == set(want)
    assert got["eps"] == pytest.approx(0.1) and got["kind"] == "rotated"
    assert got["mlp_width"] == want["mlp_width"] and got["mlp_batch_norm"] == str(
        want["mlp_batch_norm"]
    )
    experiment = next(d.experiment for d in data.values() if d.HasField("experiment"))
    assert [m.name.tag for m in experiment.metric_infos] == list(HPARAM_METRICS)
    assert set(HPARAM_METRICS) <= set(events.Tags()["scalars"])  # their values: the scalars
