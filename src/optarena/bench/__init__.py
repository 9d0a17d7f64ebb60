"""``optarena bench``: AlgoPerf's method on a laptop (issue 16).

workloads (what is trained), spaces (what each optimizer may tune), store (every finished trial,
in SQLite), runner (trials in-process, in a pool or on Dask, resumable), scores (time to target,
performance profiles, intervals, tests), targets (how the targets were set), report (HTML, PNG,
JSON, CSV).
"""
