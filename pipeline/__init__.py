"""The review pipeline: one module per layer step, tables in, tables out.

Sources (`sources/`) and the raw store read the outside world; `publish` writes to it. Everything
between them is a pure function over pandas DataFrames.
"""
