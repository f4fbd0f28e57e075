{{/*
Helpers of the fraudlake-clickhouse chart, prefixed with the chart name.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "fraudlake-clickhouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* chart label value: name-version. */}}
{{- define "fraudlake-clickhouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard app.kubernetes.io labels. */}}
{{- define "fraudlake-clickhouse.labels" -}}
helm.sh/chart: {{ include "fraudlake-clickhouse.chart" . }}
app.kubernetes.io/name: {{ include "fraudlake-clickhouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: clickhouse
app.kubernetes.io/part-of: fraudlake
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The label the Altinity operator puts on every pod of the installation. */}}
{{- define "fraudlake-clickhouse.podSelector" -}}
clickhouse.altinity.com/chi: {{ .Values.installationName }}
{{- end }}

{{/* ServiceAccount of the ClickHouse pods: serviceAccount.name, else the release name when the chart creates it, else default. */}}
{{- define "fraudlake-clickhouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default .Release.Name .Values.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}
