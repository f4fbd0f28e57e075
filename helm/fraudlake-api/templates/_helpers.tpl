{{/*
Helpers of the fraudlake-api chart. Every helper is prefixed with the chart name so that a parent
chart can include several Fraudlake charts without their helpers colliding.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "fraudlake-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of every resource: fullnameOverride, else <release>-<chart> (just <release> if it already contains the chart name). */}}
{{- define "fraudlake-api.fullname" -}}
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
{{- define "fraudlake-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard app.kubernetes.io labels for every object. */}}
{{- define "fraudlake-api.labels" -}}
helm.sh/chart: {{ include "fraudlake-api.chart" . }}
{{ include "fraudlake-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: fraudlake
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the API pods (immutable once deployed: keep them minimal). */}}
{{- define "fraudlake-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fraudlake-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount the API runs as. */}}
{{- define "fraudlake-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fraudlake-api.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository@digest when a digest is given, else repository:tag (tag defaults to appVersion). */}}
{{- define "fraudlake-api.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* What GET /v1/pipelines needs: read FraudPipelines (spec and status come with the object), nothing more. */}}
{{- define "fraudlake-api.pipelinesRules" -}}
- apiGroups: ["fraudlake.io"]
  resources: ["fraudpipelines"]
  verbs: ["get", "list", "watch"]
{{- end }}
