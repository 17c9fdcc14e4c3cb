{{/* Chart name, truncated to fit label values. */}}
{{- define "ferris.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release name contains the chart name. */}}
{{- define "ferris.fullname" -}}
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

{{- define "ferris.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "ferris.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferris.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The standard labels on every object. */}}
{{- define "ferris.labels" -}}
helm.sh/chart: {{ include "ferris.chart" . }}
{{ include "ferris.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferris
{{- end }}

{{- define "ferris.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ferris.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ferris.operatorImage" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "ferris.runnerImage" -}}
{{- printf "%s:%s" .Values.runner.image.repository (default .Chart.AppVersion .Values.runner.image.tag) }}
{{- end }}

{{- define "ferris.masterKeySecretName" -}}
{{- default (printf "%s-master-key" (include "ferris.fullname" .)) .Values.masterKey.existingSecret }}
{{- end }}

{{/* The Secret holding the database URL; one of the two database values is required. */}}
{{- define "ferris.databaseSecretName" -}}
{{- if .Values.database.existingSecret }}
{{- .Values.database.existingSecret }}
{{- else if .Values.database.url }}
{{- printf "%s-database" (include "ferris.fullname" .) }}
{{- else if .Values.postgresql.enabled }}
{{- include "ferris.postgresqlName" . }}
{{- else }}
{{- fail "set database.existingSecret (a Secret with the PostgreSQL URL), database.url, or postgresql.enabled=true (an evaluation database, not for production)" }}
{{- end }}
{{- end }}

{{- define "ferris.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}url{{ end }}
{{- end }}

{{/* The evaluation PostgreSQL: its StatefulSet, Service and Secret (password and url). */}}
{{- define "ferris.postgresqlName" -}}
{{- printf "%s-postgresql" (include "ferris.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferris.postgresqlHost" -}}
{{- .Values.postgresql.host | default (printf "%s.%s.svc" (include "ferris.postgresqlName" .) .Release.Namespace) }}
{{- end }}

{{/* The Service in front of the server's runner API port. */}}
{{- define "ferris.runnerApiServiceName" -}}
{{- printf "%s-runner-api" (include "ferris.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ferris.runnerApiUrl" -}}
{{- $scheme := ternary "https" "http" .Values.runnerApi.tls.enabled }}
{{- default (printf "%s://%s.%s.svc:%d" $scheme (include "ferris.runnerApiServiceName" .) .Release.Namespace (int .Values.runnerApi.port)) .Values.runnerApi.url }}
{{- end }}

{{/* The Secret holding the runner API's certificate: ca.crt, tls.crt, tls.key. */}}
{{- define "ferris.runnerApiTlsSecretName" -}}
{{- default (printf "%s-runner-api-tls" (include "ferris.fullname" .)) .Values.runnerApi.tls.existingSecret }}
{{- end }}

{{/* Labels of runner pods, as the operator sets them on every run's Job. */}}
{{- define "ferris.runnerPodLabels" -}}
app.kubernetes.io/managed-by: ferris-operator
app.kubernetes.io/component: runner
{{- end }}

{{/* Rules the operator needs in each namespace it serves (see rbac.yaml). */}}
{{- define "ferris.namespacedRules" }}
# Reconcile packages; kopf patches their annotations (progress) and finalizers (cleanup).
- apiGroups: ["ferris.io"]
  resources: ["ferrispackages"]
  verbs: ["get", "list", "watch", "patch", "update"]
# Follow runs (handled from their events: nothing is written on a run but its status), and
# delete finished runs past their TTL or history limit.
- apiGroups: ["ferris.io"]
  resources: ["ferrisruns"]
  verbs: ["get", "list", "watch", "delete"]
# Make the runs of packages' schedules, retries and events (each under a name derived from
# what started it; one that exists is read back to check it is that start's run).
- apiGroups: ["ferris.io"]
  resources: ["ferrisruns"]
  verbs: ["create"]
# Triggers (checked when they change, listed when an event is routed), event sources and
# project secrets (their Secret read into the vault, then deleted); kopf patches their
# annotations (progress) and finalizers (what they hold leaves the vault with them).
- apiGroups: ["ferris.io"]
  resources: ["ferristriggers", "ferriseventsources"]
  verbs: ["list", "watch", "patch"]
# Project secrets, as event sources, and read one by name when a script wrote into it (its
# status then shows the new version).
- apiGroups: ["ferris.io"]
  resources: ["ferrisprojectsecrets"]
  verbs: ["get", "list", "watch", "patch"]
# Write phase, steps and conditions.
- apiGroups: ["ferris.io"]
  resources: ["ferrispackages/status", "ferrisruns/status"]
  verbs: ["get", "patch", "update"]
# A trigger's conditions, counts and last event; an event source's conditions and path; a
# project's secret names, count and version.
- apiGroups: ["ferris.io"]
  resources: ["ferristriggers/status", "ferriseventsources/status", "ferrisprojectsecrets/status"]
  verbs: ["patch"]
# Read a package's source secrets.json (then delete it), create and delete each run's key.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "delete"]
# Read scripts from ConfigMaps; create each run's bundle ConfigMap; list bundles (metadata
# only) to end runs whose bundle was deleted before their pod could mount it. Packages' shared
# content objects: made, read, marked used (patch: one annotation), listed (metadata only) and
# deleted by the sweep an hour after their last use.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "create", "delete", "patch"]
# One Job per run; follow it; stop it on cancel, timeout or a missing image.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# Follow runner pods (image pull failures, termination messages).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Events for what a person must act on.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The server's selector labels: the operator's with another component. */}}
{{- define "ferris.serverSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ferris.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "ferris.serverLabels" -}}
helm.sh/chart: {{ include "ferris.chart" . }}
{{ include "ferris.serverSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferris
{{- end }}

{{- define "ferris.serverName" -}}
{{- printf "%s-server" (include "ferris.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where users reach the server: server.url, or the Service's name in the cluster. */}}
{{- define "ferris.serverUrl" -}}
{{- default (printf "https://%s.%s.svc:%d" (include "ferris.serverName" .) .Release.Namespace (int .Values.server.service.port)) .Values.server.url }}
{{- end }}

{{- define "ferris.serverTlsSecretName" -}}
{{- default (printf "%s-tls" (include "ferris.serverName" .)) .Values.server.tls.existingSecret }}
{{- end }}

{{/* Whether the pods mount the master-key Secret: it is the key provider, or kept readable beside another. */}}
{{- define "ferris.mountsMasterKey" -}}
{{- if or (eq .Values.keyProvider.type "secret-ring") .Values.keyProvider.keepMasterKeyRing }}true{{ end }}
{{- end }}

{{/* The key provider's settings, the same in the operator's and the server's pods. */}}
{{- define "ferris.keyProviderEnv" -}}
{{- $k := .Values.keyProvider }}
- name: FERRIS_KEY_PROVIDER
  value: {{ $k.type | quote }}
{{- if include "ferris.mountsMasterKey" . }}
- name: FERRIS_MASTER_KEY_DIR
  value: /etc/ferris/master-key
{{- end }}
- name: FERRIS_KEY_PROVIDER_TIMEOUT
  value: {{ $k.timeoutSeconds | quote }}
- name: FERRIS_DATA_KEY_CACHE_SECONDS
  value: {{ $k.dataKeyCacheSeconds | quote }}
{{- if eq $k.type "kms-v2" }}
{{- if not (or $k.kmsV2.hostPath $k.kmsV2.sidecar) }}
{{- fail "keyProvider.type kms-v2 needs keyProvider.kmsV2.hostPath (the plugin on the node) or keyProvider.kmsV2.sidecar" }}
{{- end }}
- name: FERRIS_KMS_SOCKET
  value: {{ $k.kmsV2.socketPath | quote }}
{{- else if eq $k.type "transit" }}
{{- if not $k.transit.address }}
{{- fail "keyProvider.type transit needs keyProvider.transit.address" }}
{{- end }}
{{- if not (or $k.transit.role $k.transit.tokenSecret) }}
{{- fail "keyProvider.type transit needs keyProvider.transit.role (Kubernetes auth) or keyProvider.transit.tokenSecret" }}
{{- end }}
- name: FERRIS_TRANSIT_ADDRESS
  value: {{ $k.transit.address | quote }}
{{- if $k.transit.allowInsecureHttp }}
- name: FERRIS_TRANSIT_ALLOW_HTTP
  value: "true"
{{- end }}
- name: FERRIS_TRANSIT_MOUNT
  value: {{ $k.transit.mount | quote }}
- name: FERRIS_TRANSIT_KEY
  value: {{ $k.transit.key | quote }}
{{- if $k.transit.tokenSecret }}
- name: FERRIS_TRANSIT_TOKEN_FILE
  value: /etc/ferris/transit-token/token
{{- else }}
- name: FERRIS_TRANSIT_ROLE
  value: {{ $k.transit.role | quote }}
- name: FERRIS_TRANSIT_AUTH_MOUNT
  value: {{ $k.transit.authMount | quote }}
- name: FERRIS_TRANSIT_JWT_FILE
  value: /var/run/secrets/ferris/transit/token
{{- end }}
{{- if $k.transit.caSecret }}
- name: FERRIS_TRANSIT_CA_FILE
  value: /etc/ferris/transit-ca/ca.crt
{{- end }}
{{- end }}
{{- end }}

{{- define "ferris.keyProviderMounts" -}}
{{- $k := .Values.keyProvider }}
{{- if include "ferris.mountsMasterKey" . }}
- name: master-key
  mountPath: /etc/ferris/master-key
  readOnly: true
{{- end }}
{{- if eq $k.type "kms-v2" }}
- name: kms-plugin
  mountPath: {{ dir $k.kmsV2.socketPath }}
{{- else if eq $k.type "transit" }}
{{- if $k.transit.tokenSecret }}
- name: transit-token
  mountPath: /etc/ferris/transit-token
  readOnly: true
{{- else }}
- name: transit-jwt
  mountPath: /var/run/secrets/ferris/transit
  readOnly: true
{{- end }}
{{- if $k.transit.caSecret }}
- name: transit-ca
  mountPath: /etc/ferris/transit-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{- define "ferris.keyProviderVolumes" -}}
{{- $k := .Values.keyProvider }}
{{- if include "ferris.mountsMasterKey" . }}
- name: master-key
  secret:
    secretName: {{ include "ferris.masterKeySecretName" . }}
    defaultMode: 0400
{{- end }}
{{- if eq $k.type "kms-v2" }}
- name: kms-plugin
  {{- if $k.kmsV2.sidecar }}
  emptyDir: {}
  {{- else }}
  hostPath:
    path: {{ $k.kmsV2.hostPath }}
    type: Directory
  {{- end }}
{{- else if eq $k.type "transit" }}
{{- if $k.transit.tokenSecret }}
- name: transit-token
  secret:
    secretName: {{ $k.transit.tokenSecret }}
    defaultMode: 0400
    items:
      - key: token
        path: token
{{- else }}
# The pod's ServiceAccount token for the engine's audience alone, renewed by the kubelet: the
# API token the operator uses (which may read every Secret) never goes to the engine.
- name: transit-jwt
  projected:
    defaultMode: 0400
    sources:
      - serviceAccountToken:
          audience: {{ $k.transit.audience | quote }}
          expirationSeconds: 3600
          path: token
{{- end }}
{{- if $k.transit.caSecret }}
- name: transit-ca
  secret:
    secretName: {{ $k.transit.caSecret }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}
{{- end }}

{{/* The KMS v2 plugin as a sidecar of a pod, sharing the socket's directory. */}}
{{- define "ferris.kmsSidecar" -}}
{{- $k := .Values.keyProvider }}
{{- if and (eq $k.type "kms-v2") $k.kmsV2.sidecar }}
- name: kms-plugin
  {{- toYaml (omit $k.kmsV2.sidecar "name" "volumeMounts") | nindent 2 }}
  volumeMounts:
    - name: kms-plugin
      mountPath: {{ dir $k.kmsV2.socketPath }}
    {{- with $k.kmsV2.sidecar.volumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}

{{- define "ferris.postgresqlSelectorLabels" -}}
app.kubernetes.io/name: {{ include "ferris.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: postgresql
{{- end }}

{{- define "ferris.postgresqlLabels" -}}
helm.sh/chart: {{ include "ferris.chart" . }}
{{ include "ferris.postgresqlSelectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ferris
{{- end }}
