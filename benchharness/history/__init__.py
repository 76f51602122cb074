"""Every run kept in a queryable store: the Parquet index, trends and change points, MLflow.

The run folders stay the source of truth; `store.py` adds each run's figures to a Parquet
index in the results folder (one part file per run, so concurrent runs never write the same
file), `changepoint.py` finds where a figure moved, `trends.py` and `page.py` are what
`bench history` prints and draws, `stage.py` hooks a run in (index write, the report's
"compared with the previous run" block) and `mlflow_log.py` logs a run to MLflow tracking.
"""
