"""Smoke DAG for the local stack's Airflow: two TaskFlow tasks, one XCom hand-off.

A test fixture, not a product DAG: it lives beside the tests and reaches Airflow as its own
DAG bundle, so dags/ keeps only the real DAGs.
"""

from airflow.sdk import dag, task


@dag(dag_id="fraudlake_smoke", schedule=None, catchup=False, doc_md=__doc__, tags=["fraudlake", "test"])
def fraudlake_smoke():
    @task
    def count_cards() -> int:
        return 21

    @task
    def double(count: int) -> int:
        return count * 2

    double(count_cards())


fraudlake_smoke()
