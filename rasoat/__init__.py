"""rasoat — the yearly review of poor and near-poor households (rà soát hộ nghèo, hộ cận nghèo)."""

import pandas as _pandas

__version__ = "0.1.0"

# pyarrow is here for its JSON reader (pipeline/odata_columns.py). Its presence would switch pandas'
# default text columns to Arrow storage; the pipeline is written and measured with Python's.
_pandas.set_option("mode.string_storage", "python")
