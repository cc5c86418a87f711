"""The tables as pandas and duckdb users read them: the layer-name columns are lists (Parquet
`list<string>`, even in a table where nothing was fixed), the baseline groups apart from every
arm, and tables that held the names as comma-joined text read as lists too."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nc_core.cli.train import main as train_main
from nc_core.results.records import LIST_COLUMNS, upgrade_table

duckdb = pytest.importorskip("duckdb")
SMOKE = ["--preset", "smoke", "--dataset", "synthetic", "--epochs", "3"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A baseline run (nothing fixed) and an Adaptive-ETF run that fixes layers."""
    out = tmp_path_factory.mktemp("lists")
    assert train_main([*SMOKE, "--out", str(out / "base.parquet")]) == 0
    arm = ["--policy", "adaptive", "--eps", "0.5", "--kind", "rotated"]
    assert train_main([*SMOKE, *arm, "--out", str(out / "etf.parquet")]) == 0
    return out


@pytest.mark.parametrize("name", ["base", "etf"])
def test_layer_name_columns_are_string_lists_even_when_all_are_empty(runs, name):
    schema = pq.read_schema(runs / f"{name}.parquet")
    for column in LIST_COLUMNS:
        assert schema.field(column).type == pa.list_(pa.string()), column


def test_fixed_layers_read_back_as_lists_that_count_layers_fixed(runs):
    etf = pd.read_parquet(runs / "etf.parquet")
    names = [list(v) for v in etf.fixed_layers]
    assert names[-1], "the eps 0.5 arm must fix layers for this test"
    assert [len(n) for n in names] == etf.layers_fixed.tolist()
    for before, after, new in zip(names, names[1:], etf.fixed_at_end, strict=False):
        assert set(after) == set(before) | set(new)  # fixed at an epoch's end, in the next row


def test_duckdb_groups_the_baseline_apart_and_unnests_the_names(runs):
    con = duckdb.connect()
    files = f"['{runs / 'base.parquet'}', '{runs / 'etf.parquet'}']"
    groups = con.execute(
        f"SELECT policy, kind, eps, count(*) FROM read_parquet({files}) "
        "GROUP BY ALL ORDER BY policy"
    ).fetchall()
    assert groups == [("adaptive", "rotated", 0.5, 3), ("none", None, None, 3)]
    last = con.execute(
        f"SELECT len(fixed_layers), layers_fixed FROM read_parquet({files}) "
        "WHERE policy = 'adaptive' ORDER BY epoch DESC LIMIT 1"
    ).fetchone()
    assert last[0] == last[1] > 0
    unnested = con.execute(
        f"SELECT count(*) FROM (SELECT unnest(fixed_layers) FROM read_parquet({files}))"
    ).fetchone()[0]
    assert unnested == int(pd.read_parquet(runs / "etf.parquet").layers_fixed.sum())


def test_comma_joined_names_of_earlier_tables_read_as_lists():
    old = pd.DataFrame(
        {
            "policy": ["none", "adaptive", "adaptive"],
            "kind": ["canonical"] * 3,
            "eps": [0.1] * 3,
            "fixed_layers": ["", "fc2", "fc2,fc3"],
            "fixed_at_end": ["", "fc3", ""],
        }
    )
    new = upgrade_table(old)
    assert [list(v) for v in new.fixed_layers] == [[], ["fc2"], ["fc2", "fc3"]]
    assert [list(v) for v in new.fixed_at_end] == [[], ["fc3"], []]
    assert new.kind.isna().tolist() == [True, False, False]  # the baseline fixes nothing
    assert upgrade_table(new).fixed_layers.map(list).tolist() == new.fixed_layers.map(list).tolist()
