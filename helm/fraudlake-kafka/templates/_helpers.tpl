{{/*
Helpers of the fraudlake-kafka chart, prefixed with the chart name so parent charts can mix Fraudlake charts.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "fraudlake-kafka.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* chart label value: name-version. */}}
{{- define "fraudlake-kafka.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard app.kubernetes.io labels; Strimzi copies them onto the pods it creates. */}}
{{- define "fraudlake-kafka.labels" -}}
helm.sh/chart: {{ include "fraudlake-kafka.chart" . }}
app.kubernetes.io/name: {{ include "fraudlake-kafka.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: fraudlake
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that tie a KafkaNodePool/KafkaUser to the Kafka cluster (Strimzi's selector). */}}
{{- define "fraudlake-kafka.clusterLabel" -}}
strimzi.io/cluster: {{ .Values.kafka.name }}
{{- end }}

{{/* Bootstrap address of the TLS listener every Fraudlake client uses. */}}
{{- define "fraudlake-kafka.bootstrap" -}}
{{- printf "%s-kafka-bootstrap:9093" .Values.kafka.name }}
{{- end }}

{{/* The Connect image: repository@digest when a digest is given, else repository:tag. */}}
{{- define "fraudlake-kafka.connectImage" -}}
{{- if .Values.connect.image.digest }}
{{- printf "%s@%s" .Values.connect.image.repository .Values.connect.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.connect.image.repository .Values.connect.image.tag }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the Connect workers' JMX exporter rules. */}}
{{- define "fraudlake-kafka.connectMetricsConfigMap" -}}
{{- printf "%s-metrics" .Values.connect.name }}
{{- end }}

{{/* The ConfigMap holding the brokers' and controllers' JMX exporter rules. */}}
{{- define "fraudlake-kafka.kafkaMetricsConfigMap" -}}
{{- printf "%s-kafka-metrics" .Values.kafka.name }}
{{- end }}

{{/* Pod and container security settings Strimzi applies to every Kafka and Connect pod. */}}
{{- define "fraudlake-kafka.podSecurityContext" -}}
runAsNonRoot: true
fsGroup: 1001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "fraudlake-kafka.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end }}
