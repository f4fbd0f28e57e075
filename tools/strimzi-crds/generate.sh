#!/usr/bin/env bash
# Regenerate kafkanodepool.yaml (Strimzi 1.2.0's KafkaNodePool CRD) with Strimzi's own CRD generator, and
# prove the method by regenerating the Kafka CRD and comparing it with shared/crds/strimzi-1.2.0/kafka.yaml.
# Needs Maven and a Java >= 21 runtime (Strimzi 1.2 is compiled for Java 21): JAVA=/path/to/java bash generate.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
java="${JAVA:-java}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mvn --batch-mode --quiet --file "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$work/lib"
# The arguments of the generate-crds execution in Strimzi's api/pom.xml.
"$java" -cp "$work/lib/*" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
    --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
    "io.strimzi.api.kafka.model.kafka.Kafka=$work/kafka.yaml" \
    "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$work/kafkanodepool.yaml"
cmp "$work/kafka.yaml" "$here/../../../shared/crds/strimzi-1.2.0/kafka.yaml"
cp "$work/kafkanodepool.yaml" "$here/kafkanodepool.yaml"
echo "kafkanodepool.yaml regenerated (Kafka CRD matched upstream byte for byte)"
