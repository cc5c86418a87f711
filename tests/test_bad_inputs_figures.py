"""make_figures refuses every input that cannot work: one line naming it, exit status 2, and
nothing created or changed in the output folder (a good REPORT.md from before stays)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.make_figures import main
from tests.synthetic_results import make_results


def snapshot(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def stamp(path: Path, generation: str) -> None:
    table = pq.read_table(path)
    meta = {**(table.schema.metadata or {}), b"nc_generation": generation.encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("bad") / "results", studies=("eps_sweep",))


def copy_results(good: Path, dest: Path) -> Path:
    for p in good.rglob("*.parquet"):
        target = dest / p.relative_to(good)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(p.read_bytes())
    return dest


def _empty_folder(r: Path) -> list[str]:
    for p in r.rglob("*.parquet"):
        p.unlink()
    return []


def _zero_rows(r: Path) -> list[str]:
    for name in ("epochs", "layers"):
        path = r / "eps_sweep" / f"{name}.parquet"
        pd.read_parquet(path).iloc[:0].to_parquet(path, index=False)
    return []


def _string_column(r: Path) -> list[str]:
    path = r / "eps_sweep" / "epochs.parquet"
    df = pd.read_parquet(path)
    df["test_acc"] = df["test_acc"].map(lambda v: f"{v:.3f}")
    df.to_parquet(path, index=False)
    return []


def _mismatched_pair(r: Path) -> list[str]:
    stamp(r / "eps_sweep" / "epochs.parquet", "gen-a")
    stamp(r / "eps_sweep" / "layers.parquet", "gen-b")
    return []


def _corrupt(r: Path) -> list[str]:
    (r / "eps_sweep" / "layers.parquet").write_bytes(b"PAR1 not really")
    return []


def _no_column(r: Path) -> list[str]:
    path = r / "eps_sweep" / "layers.parquet"
    pd.read_parquet(path).drop(columns=["layer_index"]).to_parquet(path, index=False)
    return []


def _run_file(r: Path) -> list[str]:
    return ["--run", str(r / "nowhere.parquet")]


def _out_is_file(r: Path) -> list[str]:
    (r.parent / "out_file").write_text("x")
    return ["--out", str(r.parent / "out_file")]


CASES = {
    # (setup of the results copy -> extra args, expected words of the one-line error)
    "empty results folder": (_empty_folder, [], "no study found"),
    "no such results folder": (lambda r: ["--results", str(r / "nope")], [], "no such folder"),
    "unknown --study": (lambda r: ["--study", "nosuch"], [], "--study nosuch"),
    "zero-row tables": (_zero_rows, [], "study eps_sweep has no finished trials"),
    "string test_acc column": (_string_column, [], "'test_acc'"),
    "mismatched generation pair": (_mismatched_pair, [], "mismatched pair"),
    "corrupt layers table": (_corrupt, [], "cannot be read as Parquet"),
    "missing column": (_no_column, [], "layer_index"),
    "--eps nan": (lambda r: [], ["--eps", "nan"], "--eps nan"),
    "--eps 2": (lambda r: [], ["--eps", "2"], "--eps 2.0"),
    "--eps 0": (lambda r: [], ["--eps", "0"], "--eps 0.0"),
    "--run missing": (_run_file, [], "no such file"),
    "--run not parquet": (lambda r: ["--run", str(r / "x.csv")], [], "expected the .parquet"),
    "--run with --study": (
        lambda r: ["--run", str(r / "x.parquet"), "--study", "eps_sweep"],
        [],
        "give one",
    ),
    "--out is a file": (_out_is_file, [], "is a file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, good, tmp_path, capsys):
    setup, extra, words = CASES[case]
    results = copy_results(good, tmp_path / "results")
    out = tmp_path / "figures"
    out.mkdir()
    (out / "REPORT.md").write_text("a good report from before\n")
    args = setup(results)
    argv = ["--results", str(results), "--out", str(out), *extra]
    # later flags win: a case's own --results/--out replace the defaults
    argv += args
    before = snapshot(out), snapshot(results)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and words in err, err
    assert (snapshot(out), snapshot(results)) == before


def test_pair_without_generation_ids_is_accepted(good, tmp_path):
    from analysis.loading.parquet_tables import ResultsSchemaError, check_pair

    results = copy_results(good, tmp_path / "results")
    epochs, layers = (
        results / "eps_sweep" / "epochs.parquet",
        results / "eps_sweep" / "layers.parquet",
    )
    for path in (epochs, layers):  # written before ids existed: neither is stamped
        table = pq.read_table(path)
        meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"nc_generation"}
        pq.write_table(table.replace_schema_metadata(meta), path)
    check_pair(epochs, layers)
    stamp(epochs, "gen-a")  # one stamped, one not: two different writes
    assert pq.read_table(epochs).schema.metadata[b"nc_generation"] == b"gen-a"
    assert pa is not None
    with pytest.raises(ResultsSchemaError, match="mismatched pair"):
        check_pair(epochs, layers)
