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
Where tls.existingSecret and passfile are mounted; connection strings name these paths (values.yaml, nodes). Both are
directories beneath the ConfigMap volume at /etc/pgmm: the kubelet creates directory mount points inside such a
read-only volume, never file ones, so a subPath file at /etc/pgmm/pgpass could not be mounted.
*/}}
{{- define "pgmm.tlsDir" -}}/etc/pgmm/tls{{- end }}
{{- define "pgmm.passfileDir" -}}/etc/pgmm/passfile{{- end }}

{{/*
appsettings.json, from the values. Connection strings are not in it: each comes from its Secret through the
environment (PgMultiMaster__Nodes__<i>__ConnectionString), which the configuration merges by index.
*/}}
{{- define "pgmm.appsettings" -}}
{{- $nodes := list }}
{{- range .Values.nodes }}
{{- $nodes = append $nodes (dict "Name" .name) }}
{{- end }}
{{- $pgmm := dict "Cluster" .Values.cluster.name "Nodes" $nodes "Tables" .Values.tables "InsertOnlyTables" (.Values.insertOnlyTables | default list) "NoTruncateTables" (.Values.noTruncateTables | default list) }}
{{- with .Values.apply }}
{{- $_ := set $pgmm "Apply" . }}
{{- end }}
{{- with .Values.conflicts }}
{{- $_ := set $pgmm "Conflicts" . }}
{{- end }}
{{- $monitoring := dict "Urls" (printf "http://0.0.0.0:%d" (int .Values.monitoring.port)) "MaxLag" .Values.monitoring.maxLag "MaxLagBytes" (int64 .Values.monitoring.maxLagBytes) "PollInterval" .Values.monitoring.pollInterval }}
{{- $_ := set $monitoring "AllowAnonymous" .Values.monitoring.allowAnonymous }}
{{- $_ := set $monitoring "ShowRowValues" .Values.monitoring.showRowValues }}
{{- $_ := set $pgmm "Monitoring" $monitoring }}
{{- toPrettyJson (dict "PgMultiMaster" $pgmm "Logging" (.Values.logging | default dict)) }}
{{- end }}

{{/*
The environment of every pgmm container: the connection string of EVERY node (a worker streams from its own
node and applies to all peers; init sets up all nodes), the API's access token (absent only with allowAnonymous),
and extraEnv.
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

{{/*
Volumes of every pgmm pod besides its config and /tmp: the TLS and passfile Secrets, and extraVolumes.
defaultMode 288 is 0440 (written in decimal, which no YAML version reads as anything else): the files belong to root
and to the group podSecurityContext.fsGroup, through which the pod user reads them; nobody else can.
*/}}
{{- define "pgmm.volumes" -}}
{{- with .Values.tls.existingSecret }}
- name: pgmm-tls
  secret:
    secretName: {{ . | quote }}
    defaultMode: 288
{{- end }}
{{- with .Values.passfile.existingSecret }}
- name: pgmm-passfile
  secret:
    secretName: {{ . | quote }}
    defaultMode: 288
    items:
      - key: {{ $.Values.passfile.key | quote }}
        path: pgpass
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The mounts of pgmm.volumes, read-only. */}}
{{- define "pgmm.volumeMounts" -}}
{{- if .Values.tls.existingSecret }}
- name: pgmm-tls
  mountPath: {{ include "pgmm.tlsDir" . }}
  readOnly: true
{{- end }}
{{- if .Values.passfile.existingSecret }}
- name: pgmm-passfile
  mountPath: {{ include "pgmm.passfileDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
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

{{/*
Checks that values.schema.json cannot express (node names are unique, fsGroup for the mounted Secrets), and the
access-token rule again, for renderings that skip the schema (`helm template --skip-schema-validation`).
*/}}
{{- define "pgmm.validate" -}}
{{- $seen := dict }}
{{- range .Values.nodes }}
{{- if hasKey $seen .name }}
{{- fail (printf "nodes: the name %q is used twice; node names must be unique." .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- end }}
{{- /* The workers listen on 0.0.0.0, where a worker without a token refuses to start unless AllowAnonymous. */}}
{{- $token := .Values.monitoring.accessTokenSecret | default dict }}
{{- if not (or $token.name .Values.monitoring.allowAnonymous) }}
{{- fail "monitoring: no access token for the API. Set monitoring.accessTokenSecret.name and .key to an existing Secret (kubectl create secret generic pgmm-access-token --from-literal=token=$(openssl rand -hex 24)), or set monitoring.allowAnonymous=true to let anyone who reaches the port read /api/*." }}
{{- end }}
{{- /* The Secret files are 0440 root:fsGroup: without an fsGroup the pod user could not read them. */}}
{{- if and (or .Values.tls.existingSecret .Values.passfile.existingSecret) (not (.Values.podSecurityContext | default dict).fsGroup) }}
{{- fail "tls, passfile: the mounted files are readable by the group podSecurityContext.fsGroup only; set podSecurityContext.fsGroup (10001 by default)." }}
{{- end }}
{{- end }}
