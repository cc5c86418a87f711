"""The configuration columns the analysis reads by name, each named once here.

A row of the results tables carries the run's fields (`nc_core.results.records.CONFIG_COLUMNS`)
and its model's options as `<model>_<option>` columns (`mlp_width`, `vit_etf_blocks`), null in
the rows of other models. Tables written by nc-core 0.1 (`width`, `etf_blocks`) are read in
today's names (`upgrade`). Every other module of the analysis takes a model option's column
from here, so a renamed option is one edit.
"""

from __future__ import annotations

from nc_core.results import records
from nc_core.results.records import CONFIG_COLUMNS, model_option_columns, upgrade_table

MLP_WIDTH = "mlp_width"
MLP_DEPTH = "mlp_depth"
VIT_DIM = "vit_dim"
VIT_DEPTH = "vit_depth"
ETF_BLOCKS = records.ETF_BLOCKS  # which ViT blocks are fixed from the start: no baseline has any
ETF_LINEARS = "vit_etf_linears"  # which linears of those blocks: fc1, fc2 or both

# Every model's option columns: read as nulls where a table has none.
OPTION_COLUMNS = model_option_columns()
# Every configuration column a row may carry: the run's fields, then the models' options.
ALL_CONFIG = CONFIG_COLUMNS + OPTION_COLUMNS
NUMERIC_OPTIONS = [MLP_WIDTH, MLP_DEPTH, VIT_DIM, VIT_DEPTH]
upgrade = upgrade_table
