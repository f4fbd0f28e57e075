"""Orchestration glue: how the package's code runs under Airflow, locally and in Kubernetes."""
