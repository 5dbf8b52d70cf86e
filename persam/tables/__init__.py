"""Tables generated from result files, never typed by hand: one module per table (``table1`` ... ``table4``,
and the named protocols ``fewshot``, ``presence``, ``instances``), built from tidy rows with pandas only (no
torch import). ``python -m persam.tables TABLE RUN_DIRS --out DIR``; see :mod:`persam.tables.cli`.
"""

from persam.tables.cli import MODULES, TABLES, main

# The writers by name, for callers that build one table from run folders: writer(run paths, out dir) -> DataFrame.
write_table1, write_table2 = TABLES["table1"], TABLES["table2"]
write_table3, write_table4 = TABLES["table3"], TABLES["table4"]

__all__ = ["MODULES", "TABLES", "main", "write_table1", "write_table2", "write_table3", "write_table4"]
