#!/usr/bin/env bash
# Prepares a fresh machine for `make demo` / `make test`: checks the toolchains, installs uv if it
# is missing, and installs the locked Python environment (.venv). Idempotent and quick when warm.
# The services themselves (Kafka, MinIO, kube-apiserver, ...) are built into ~/.cache/fraudlake by
# `fraudlake stack install`, which the Makefile runs next.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {  # need TOOL WHY
  command -v "$1" >/dev/null 2>&1 || { echo "bootstrap: '$1' not found on PATH — needed $2" >&2; exit 1; }
}
need python3 "to run Fraudlake (Python 3.11)"
need go      "to build kube-apiserver, etcd, kubectl, helm and MinIO from the Go module proxy"
need java    "to run Kafka and Kafka Connect (Java 17+)"
need mvn     "to fetch Kafka, Kafka Connect and the Aiven S3 sink from Maven Central"

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv from PyPI" >&2
  python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --extra dev --quiet

# The bank database (stack service postgres, the source Debezium captures) runs Debian's PostgreSQL
# server binaries from /usr/lib/postgresql/<major>/bin; nothing else on the machine needs a cluster.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian's postgresql for the bank database (stack service postgres)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "bootstrap: PostgreSQL server binaries not found and cannot be installed here (needs root +" \
         "apt-get); the postgres stack service will fail — install Debian's 'postgresql' package" >&2
  fi
fi

# The UI's browser test drives Debian's Chromium (no browser downloads are possible here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian's chromium for the UI browser test" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "bootstrap: chromium not found and cannot be installed here (needs root + apt-get);" \
         "the UI browser test will fail — install Debian's 'chromium' package" >&2
  fi
fi
