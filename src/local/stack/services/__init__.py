"""Registry of the local stack's services, in start order."""

from __future__ import annotations

from fraudlake.local.stack.service import Service


def registry() -> dict[str, Service]:
    # Imported lazily so `fraudlake --help` does not pay for every service module.
    from fraudlake.local.stack.services.airflow import AirflowService
    from fraudlake.local.stack.services.chdb_engine import ClickHouseService
    from fraudlake.local.stack.services.chroma import ChromaService
    from fraudlake.local.stack.services.connect import KafkaConnectService
    from fraudlake.local.stack.services.kafka import KafkaService
    from fraudlake.local.stack.services.kube import KubeService
    from fraudlake.local.stack.services.minio import MinioService
    from fraudlake.local.stack.services.postgres import PostgresService
    from fraudlake.local.stack.services.prometheus import PrometheusService

    services: list[Service] = [
        KafkaService(),
        MinioService(),
        KafkaConnectService(),
        PostgresService(),
        KubeService(),
        ClickHouseService(),
        ChromaService(),
        AirflowService(),
        # Last: it starts with every other service of the stack as a target (and follows later changes).
        PrometheusService(),
    ]
    return {svc.name: svc for svc in services}
