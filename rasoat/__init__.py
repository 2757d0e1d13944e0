"""rasoat — the yearly review of poor and near-poor households (rà soát hộ nghèo, hộ cận nghèo)."""

import pandas as _pandas
import pyarrow as _pyarrow

__version__ = "0.1.0"

# pyarrow is here for its JSON reader (pipeline/odata_columns.py) and the reasons' text. Its presence
# would switch pandas' default text columns to Arrow storage; the pipeline is written and measured
# with Python's.
_pandas.set_option("mode.string_storage", "python")
# Arrow allocates through the C library, like everything else: memory it frees goes back to the
# system when the review releases freed memory between steps (its own allocator would keep it).
_pyarrow.set_memory_pool(_pyarrow.system_memory_pool())
