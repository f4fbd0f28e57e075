"""Small, synchronous Kubernetes calls the reconcilers make (kopf runs sync handlers in threads).

Every function maps the API's answers onto what the caller needs: None for "not there",
`kopf.TemporaryError` for conflicts and server trouble that a retry fixes, the ApiException itself
for anything else (kopf then retries with backoff and logs it).
"""

from __future__ import annotations

import base64
import functools
import os
from typing import Any, cast

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from fraudlake.pipeline import naming

STRIMZI_PLURALS = {"KafkaTopic": "kafkatopics", "KafkaConnector": "kafkaconnectors"}
# Built-in kinds the operator manages (the scorer's), by the API class and the method suffix they use.
NATIVE_APIS = {
    "Deployment": ("AppsV1Api", "namespaced_deployment"),
    "ServiceAccount": ("CoreV1Api", "namespaced_service_account"),
    "PodDisruptionBudget": ("PolicyV1Api", "namespaced_pod_disruption_budget"),
}


def configure() -> None:
    """Load in-cluster credentials, else the kubeconfig ($KUBECONFIG or ~/.kube/config).

    $KUBECONFIG is read now: the kubernetes package reads it once at import, too early for a
    process (or test) that sets it later.
    """
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    _api_client.cache_clear()


def connection_info(trust_env: bool = False) -> kopf.ConnectionInfo:
    """The loaded client configuration as kopf's credentials (what kopf's login_via_client builds)."""
    cfg = client.Configuration.get_default_copy()
    header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
    scheme, _, token = (header or "").rpartition(" ")
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        username=cfg.username or None,
        password=cfg.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
        trust_env=trust_env,
    )


@functools.cache
def _api_client() -> client.ApiClient:
    return client.ApiClient()


def custom_api() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(_api_client())


def core_api() -> client.CoreV1Api:
    return client.CoreV1Api(_api_client())


def get_strimzi(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """A Strimzi object, or None when it does not exist."""
    try:
        found = custom_api().get_namespaced_custom_object(
            naming.STRIMZI_GROUP, naming.STRIMZI_VERSION, namespace, STRIMZI_PLURALS[kind], name
        )
        return cast(dict[str, Any], found)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise _transient(exc, f"reading {kind} {namespace}/{name}") from exc


def list_strimzi(kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
    """Strimzi objects of `kind` in `namespace` matching the label selector."""
    try:
        result = custom_api().list_namespaced_custom_object(
            naming.STRIMZI_GROUP,
            naming.STRIMZI_VERSION,
            namespace,
            STRIMZI_PLURALS[kind],
            label_selector=selector,
        )
    except ApiException as exc:
        raise _transient(exc, f"listing {kind} in {namespace}") from exc
    return list(cast(dict[str, Any], result).get("items", []))


def create_strimzi(manifest: dict[str, Any]) -> dict[str, Any]:
    meta = manifest["metadata"]
    try:
        created = custom_api().create_namespaced_custom_object(
            naming.STRIMZI_GROUP,
            naming.STRIMZI_VERSION,
            meta["namespace"],
            STRIMZI_PLURALS[manifest["kind"]],
            manifest,
        )
    except ApiException as exc:
        raise _transient(exc, f"creating {manifest['kind']} {meta['namespace']}/{meta['name']}") from exc
    return cast(dict[str, Any], created)


def patch_strimzi(manifest: dict[str, Any]) -> dict[str, Any]:
    """Merge-patch the object's labels and spec to the manifest's (other keys stay as they are)."""
    meta = manifest["metadata"]
    body = {"metadata": {"labels": meta["labels"]}, "spec": manifest["spec"]}
    try:
        patched = custom_api().patch_namespaced_custom_object(
            naming.STRIMZI_GROUP,
            naming.STRIMZI_VERSION,
            meta["namespace"],
            STRIMZI_PLURALS[manifest["kind"]],
            meta["name"],
            body,
        )
    except ApiException as exc:
        raise _transient(exc, f"updating {manifest['kind']} {meta['namespace']}/{meta['name']}") from exc
    return cast(dict[str, Any], patched)


def delete_strimzi(kind: str, namespace: str, name: str) -> bool:
    """Delete a Strimzi object; False when it was already gone."""
    try:
        custom_api().delete_namespaced_custom_object(
            naming.STRIMZI_GROUP, naming.STRIMZI_VERSION, namespace, STRIMZI_PLURALS[kind], name
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise _transient(exc, f"deleting {kind} {namespace}/{name}") from exc
    return True


def _native(kind: str, verb: str) -> Any:
    api_class, suffix = NATIVE_APIS[kind]
    return getattr(getattr(client, api_class)(_api_client()), f"{verb}_{suffix}")


def _as_dict(obj: Any) -> dict[str, Any]:
    # The typed clients return models; the reconcilers read plain camelCase data, like Strimzi objects.
    return cast(dict[str, Any], _api_client().sanitize_for_serialization(obj))


def get_native(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    """A Deployment, ServiceAccount or PodDisruptionBudget as plain data, or None when it does not exist."""
    try:
        return _as_dict(_native(kind, "read")(name, namespace))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise _transient(exc, f"reading {kind} {namespace}/{name}") from exc


def list_native(kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
    try:
        found = _native(kind, "list")(namespace, label_selector=selector)
    except ApiException as exc:
        raise _transient(exc, f"listing {kind} in {namespace}") from exc
    return list(_as_dict(found).get("items", []))


def create_native(manifest: dict[str, Any]) -> dict[str, Any]:
    meta = manifest["metadata"]
    try:
        return _as_dict(_native(manifest["kind"], "create")(meta["namespace"], manifest))
    except ApiException as exc:
        raise _transient(exc, f"creating {manifest['kind']} {meta['namespace']}/{meta['name']}") from exc


def replace_native(manifest: dict[str, Any], resource_version: str) -> dict[str, Any]:
    """Replace the object with the manifest (a merge would keep env entries the manifest dropped);
    `resource_version` makes a concurrent writer's change a conflict, retried, not overwritten."""
    meta = manifest["metadata"]
    body = {**manifest, "metadata": {**meta, "resourceVersion": resource_version}}
    try:
        return _as_dict(_native(manifest["kind"], "replace")(meta["name"], meta["namespace"], body))
    except ApiException as exc:
        raise _transient(exc, f"updating {manifest['kind']} {meta['namespace']}/{meta['name']}") from exc


def delete_native(kind: str, namespace: str, name: str) -> bool:
    """Delete the object (a Deployment's pods go with it, in the background); False when already gone."""
    try:
        _native(kind, "delete")(name, namespace, propagation_policy="Background")
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise _transient(exc, f"deleting {kind} {namespace}/{name}") from exc
    return True


class SecretMissingError(LookupError):
    """The referenced Secret or key does not exist (yet)."""


def read_secret_value(namespace: str, name: str, key: str) -> str:
    """The decoded value of one key of a Secret; SecretMissingError names what is missing."""
    try:
        secret = core_api().read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise SecretMissingError(f"Secret {namespace}/{name} not found") from exc
        raise _transient(exc, f"reading Secret {namespace}/{name}") from exc
    data = secret.data or {}
    if key not in data:
        raise SecretMissingError(f"Secret {namespace}/{name} has no key {key!r}")
    return base64.b64decode(data[key]).decode()


def _transient(exc: ApiException, doing: str) -> Exception:
    # Conflicts (someone else wrote first), throttling and server errors pass with a retry.
    if exc.status in (409, 429) or (exc.status or 0) >= 500:
        return kopf.TemporaryError(f"{doing}: {exc.status} {exc.reason}", delay=5)
    return exc
