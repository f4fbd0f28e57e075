{{/*
Helpers of the fraudlake-operator chart. Every helper is prefixed with the chart name so that a parent
chart can include several Fraudlake charts without their helpers colliding.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "fraudlake-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of every resource: fullnameOverride, else <release>-<chart> (just <release> if it already contains the chart name). */}}
{{- define "fraudlake-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version. */}}
{{- define "fraudlake-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard app.kubernetes.io labels for every object. */}}
{{- define "fraudlake-operator.labels" -}}
helm.sh/chart: {{ include "fraudlake-operator.chart" . }}
{{ include "fraudlake-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: fraudlake
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator pod (immutable once deployed: keep them minimal). */}}
{{- define "fraudlake-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fraudlake-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount the operator runs as. */}}
{{- define "fraudlake-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fraudlake-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository@digest when a digest is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "fraudlake-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Image of the scorer pods the operator creates: scorer.image.repository@digest, else :tag (default appVersion). */}}
{{- define "fraudlake-operator.scorerImage" -}}
{{- if .Values.scorer.image.digest }}
{{- printf "%s@%s" .Values.scorer.image.repository .Values.scorer.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.scorer.image.repository (default .Chart.AppVersion .Values.scorer.image.tag) }}
{{- end }}
{{- end }}

{{/* The rules the operator needs in a namespace it reconciles: its own resources, the Strimzi children it owns, Secrets it reads, Events it posts. */}}
{{- define "fraudlake-operator.namespacedRules" -}}
# FraudPipelines: watch, add/remove the finalizer, store Kopf's progress annotations.
- apiGroups: ["fraudlake.io"]
  resources: ["fraudpipelines"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["fraudlake.io"]
  resources: ["fraudpipelines/status"]
  verbs: ["get", "patch", "update"]
# Needed to set ownerReferences with blockOwnerDeletion on the children.
- apiGroups: ["fraudlake.io"]
  resources: ["fraudpipelines/finalizers"]
  verbs: ["update"]
# Children: one KafkaTopic per stream and the S3 sink KafkaConnector.
- apiGroups: ["kafka.strimzi.io"]
  resources: ["kafkatopics", "kafkaconnectors"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# The stream scorer of each pipeline (spec.scoring): its Deployment, ServiceAccount and PodDisruptionBudget,
# found again by label (list) and removed at replicas 0 or with the pipeline.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "delete"]
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["get", "list", "watch", "create", "update", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "update", "delete"]
# The ClickHouse endpoint and lake credentials Secrets named in the spec; read only, never listed.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Kopf posts progress and errors as Events on the FraudPipeline.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* Labels of every scorer pod the operator creates (operator/builders.py: scorer_labels), the scorers' PodMonitor selector. */}}
{{- define "fraudlake-operator.scorerSelectorLabels" -}}
app.kubernetes.io/name: fraudlake-scorer
app.kubernetes.io/component: scorer
app.kubernetes.io/managed-by: fraudlake-operator
{{- end }}
