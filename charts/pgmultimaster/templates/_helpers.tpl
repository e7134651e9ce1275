{{/* The chart name, overridable. */}}
{{- define "pgmm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or the release name alone when it already contains the chart name. */}}
{{- define "pgmm.fullname" -}}
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

{{/*
The name of one node's resources (worker Deployment and Service): <fullname>-<node>, underscores turned into
hyphens (node names allow _, Kubernetes names do not). The prefix is cut to 42 characters so that the longest
node name (20) still fits the 63 of a Service name. Call with (dict "root" $ "node" $node).
*/}}
{{- define "pgmm.nodeFullname" -}}
{{- printf "%s-%s" (include "pgmm.fullname" .root | trunc 42 | trimSuffix "-") (.node.name | replace "_" "-") }}
{{- end }}

{{- define "pgmm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "pgmm.labels" -}}
helm.sh/chart: {{ include "pgmm.chart" . }}
{{ include "pgmm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pgmultimaster
{{- end }}

{{/* What selects this release's resources. */}}
{{- define "pgmm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pgmm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selects every worker pod of the release (the dashboard Service) and every worker Service (the ServiceMonitor). */}}
{{- define "pgmm.workerSelectorLabels" -}}
{{ include "pgmm.selectorLabels" . }}
app.kubernetes.io/component: worker
{{- end }}

{{/* Selects one node's worker pod. Call with (dict "root" $ "node" $node). */}}
{{- define "pgmm.nodeSelectorLabels" -}}
{{ include "pgmm.workerSelectorLabels" .root }}
pgmultimaster.io/node: {{ .node.name | quote }}
{{- end }}

{{- define "pgmm.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Where the ConfigMap's appsettings.json is mounted; every pgmm command gets --config with it. */}}
{{- define "pgmm.configDir" -}}/etc/pgmm{{- end }}
{{- define "pgmm.configPath" -}}/etc/pgmm/appsettings.json{{- end }}

{{/*
appsettings.json, from the values. Connection strings are not in it: each comes from its Secret through the
environment (PgMultiMaster__Nodes__<i>__ConnectionString), which the configuration merges by index.
*/}}
{{- define "pgmm.appsettings" -}}
{{- $nodes := list }}
{{- range .Values.nodes }}
{{- $nodes = append $nodes (dict "Name" .name) }}
{{- end }}
{{- $pgmm := dict "Cluster" .Values.cluster.name "Nodes" $nodes "Tables" .Values.tables "InsertOnlyTables" (.Values.insertOnlyTables | default list) }}
{{- with .Values.apply }}
{{- $_ := set $pgmm "Apply" . }}
{{- end }}
{{- with .Values.conflicts }}
{{- $_ := set $pgmm "Conflicts" . }}
{{- end }}
{{- $monitoring := dict "Urls" (printf "http://0.0.0.0:%d" (int .Values.monitoring.port)) "MaxLag" .Values.monitoring.maxLag "MaxLagBytes" (int64 .Values.monitoring.maxLagBytes) "PollInterval" .Values.monitoring.pollInterval }}
{{- $_ := set $pgmm "Monitoring" $monitoring }}
{{- toPrettyJson (dict "PgMultiMaster" $pgmm "Logging" (.Values.logging | default dict)) }}
{{- end }}

{{/*
The environment of every pgmm container: the connection string of EVERY node (a worker streams from its own
node and applies to all peers; init sets up all nodes), the optional dashboard token, and extraEnv.
*/}}
{{- define "pgmm.env" -}}
{{- range $i, $node := .Values.nodes }}
- name: PgMultiMaster__Nodes__{{ $i }}__ConnectionString
  valueFrom:
    secretKeyRef:
      name: {{ $node.connectionSecret.name | quote }}
      key: {{ $node.connectionSecret.key | quote }}
{{- end }}
{{- with .Values.monitoring.accessTokenSecret }}
{{- if .name }}
- name: PgMultiMaster__Monitoring__AccessToken
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the workers and the init job. */}}
{{- define "pgmm.podSpecCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Checks that values.schema.json cannot express: node names are unique. */}}
{{- define "pgmm.validate" -}}
{{- $seen := dict }}
{{- range .Values.nodes }}
{{- if hasKey $seen .name }}
{{- fail (printf "nodes: the name %q is used twice; node names must be unique." .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- end }}
