{{/* Names, labels and the pieces every workload shares. */}}

{{- define "keyshard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name. It is kept to 40 characters so that the longest derived
name (`<fullname>-gateway-admin`, and the shard pods' `<fullname>-shard-N` under their
headless Service) stays a valid DNS label.
*/}}
{{- define "keyshard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "keyshard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the release's pods; add `app.kubernetes.io/component` per workload. */}}
{{- define "keyshard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keyshard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keyshard.labels" -}}
helm.sh/chart: {{ include "keyshard.chart" . }}
{{ include "keyshard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keyshard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway"). */}}
{{- define "keyshard.componentSelectorLabels" -}}
{{ include "keyshard.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "keyshard.componentLabels" -}}
{{ include "keyshard.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "keyshard.gatewayName" -}}
{{- printf "%s-gateway" (include "keyshard.fullname" .) -}}
{{- end -}}

{{- define "keyshard.shardName" -}}
{{- printf "%s-shard" (include "keyshard.fullname" .) -}}
{{- end -}}

{{- define "keyshard.kmsPluginName" -}}
{{- printf "%s-kms-plugin" (include "keyshard.fullname" .) -}}
{{- end -}}

{{- define "keyshard.shardHeadlessName" -}}
{{- printf "%s-shard-headless" (include "keyshard.fullname" .) -}}
{{- end -}}

{{- define "keyshard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "keyshard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "keyshard.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the active root key: the chart's own when `rootKey.value` is set. */}}
{{- define "keyshard.rootKeySecretName" -}}
{{- if .Values.rootKey.value -}}
{{- printf "%s-root-key" (include "keyshard.fullname" .) -}}
{{- else if .Values.rootKey.existingSecret -}}
{{- .Values.rootKey.existingSecret -}}
{{- else -}}
{{- fail "rootKey: set rootKey.existingSecret to the Secret holding the root key, or rootKey.value" -}}
{{- end -}}
{{- end -}}

{{- define "keyshard.databaseSecretName" -}}
{{- if .Values.database.url -}}
{{- printf "%s-database" (include "keyshard.fullname" .) -}}
{{- else if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else -}}
{{- fail "database: set database.existingSecret to the Secret holding the Postgres URL, or database.url" -}}
{{- end -}}
{{- end -}}

{{/*
The gateways' shard list: one stable StatefulSet pod name per shard under the headless
Service, fully qualified so that it resolves from any namespace without search domains.
*/}}
{{- define "keyshard.shardAddresses" -}}
{{- $addresses := list -}}
{{- $shard := include "keyshard.shardName" . -}}
{{- $headless := include "keyshard.shardHeadlessName" . -}}
{{- range $i := until (int .Values.shard.replicas) -}}
{{- $addresses = append $addresses (printf "%s-%d.%s.%s.svc.%s:%d" $shard $i $headless $.Release.Namespace $.Values.clusterDomain (int $.Values.ports.grpc)) -}}
{{- end -}}
{{- join "," $addresses -}}
{{- end -}}

{{/* Gateways sharing each quota: `gateway.quotaReplicas`, else the replicas Kubernetes starts. */}}
{{- define "keyshard.quotaReplicas" -}}
{{- if not (kindIs "invalid" .Values.gateway.quotaReplicas) -}}
{{- int .Values.gateway.quotaReplicas -}}
{{- else if .Values.gateway.autoscaling.enabled -}}
{{- int .Values.gateway.autoscaling.minReplicas -}}
{{- else -}}
{{- int .Values.gateway.replicas -}}
{{- end -}}
{{- end -}}

{{- define "keyshard.listen" -}}
{{- printf "%s:%d" .root.Values.listenHost (int .port) -}}
{{- end -}}

{{/*
A settings file for `KEYSHARD_CONFIG`: the chart's settings (`managed`), then the user's
`config`, which may not name a setting the chart manages (`reserved`, which includes those it
passes as environment variables).
(dict "what" "gateway" "managed" DICT "reserved" LIST "config" DICT)
*/}}
{{- define "keyshard.settingsFile" -}}
{{- range $name := keys .config | sortAlpha }}
{{- if or (hasKey $.managed $name) (has $name $.reserved) }}
{{- fail (printf "%s.config: %s is set by the chart; use the chart's own value for it" $.what $name) }}
{{- end }}
{{- if not (regexMatch "^KEYSHARD_[A-Z0-9_]+$" $name) }}
{{- fail (printf "%s.config: %s is not a Keyshard setting name (KEYSHARD_...)" $.what $name) }}
{{- end }}
{{- end }}
{{- $all := merge (dict) .managed .config }}
{{- range $name := keys $all | sortAlpha }}
{{- $value := index $all $name }}
{{- if and (kindIs "float64" $value) (eq $value (floor $value)) }}
{{- $value = int64 $value }}
{{- end }}
{{ $name }}={{ $value }}
{{- end }}
{{- end -}}

{{/* Scheduling of one component: (dict "root" $ "component" "gateway" "values" .Values.gateway). */}}
{{- define "keyshard.scheduling" -}}
{{- $selector := include "keyshard.componentSelectorLabels" (dict "root" .root "component" .component) | fromYaml -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if .values.affinity }}
affinity:
  {{- toYaml .values.affinity | nindent 2 }}
{{- else if eq .values.podAntiAffinity "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- toYaml $selector | nindent 12 }}
{{- else if eq .values.podAntiAffinity "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- toYaml $selector | nindent 14 }}
{{- end }}
{{- if .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml .values.topologySpreadConstraints | nindent 2 }}
{{- else if or .values.topologySpread.zone .values.topologySpread.node }}
topologySpreadConstraints:
  {{- range $key, $topology := dict "zone" "topology.kubernetes.io/zone" "node" "kubernetes.io/hostname" }}
  {{- with index $.values.topologySpread $key }}
  - maxSkew: 1
    topologyKey: {{ $topology }}
    whenUnsatisfiable: {{ . }}
    labelSelector:
      matchLabels:
        {{- toYaml $selector | nindent 8 }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Probes on the admin port: (dict "root" $ "values" .Values.gateway). */}}
{{- define "keyshard.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: admin
  {{- toYaml .values.startupProbe | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: admin
  {{- toYaml .values.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
  {{- toYaml .values.readinessProbe | nindent 2 }}
{{- end -}}

{{/* Volumes and mounts of the root keys a shard reads. */}}
{{- define "keyshard.rootKeyVolumes" -}}
- name: root-key
  secret:
    secretName: {{ include "keyshard.rootKeySecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.rootKey.secretKey }}
        path: root-key
{{- range $i, $previous := .Values.rootKey.previous }}
- name: previous-root-key-{{ $i }}
  secret:
    secretName: {{ required "rootKey.previous[].secretName is required" $previous.secretName }}
    defaultMode: 0440
    items:
      - key: {{ default $.Values.rootKey.secretKey $previous.secretKey }}
        path: root-key
{{- end }}
{{- end -}}

{{- define "keyshard.rootKeyMounts" -}}
- name: root-key
  mountPath: /etc/keyshard/root-key
  readOnly: true
{{- range $i, $previous := .Values.rootKey.previous }}
- name: previous-root-key-{{ $i }}
  mountPath: /etc/keyshard/previous-root-key-{{ $i }}
  readOnly: true
{{- end }}
{{- end -}}

{{/*
TLS files: where each Secret is mounted, and the settings naming them. The Secret volumes are
updated in place when the Secrets change, and Keyshard reads the files again every
`tls.reloadIntervalSeconds`.
*/}}
{{- define "keyshard.tlsVolume" -}}
- name: {{ .name }}
  secret:
    secretName: {{ .secret }}
    defaultMode: 0440
    items:
      {{- range .keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end -}}

{{/* The gateway's TLS settings, for its settings file. */}}
{{- define "keyshard.gatewayTlsSettings" -}}
{{- $settings := dict "KEYSHARD_TLS_RELOAD_INTERVAL_SECONDS" (int64 .Values.tls.reloadIntervalSeconds) -}}
{{- if .Values.tls.public.secretName -}}
{{- $_ := set $settings "KEYSHARD_TLS_CERT_FILE" "/etc/keyshard/tls/tls.crt" -}}
{{- $_ := set $settings "KEYSHARD_TLS_KEY_FILE" "/etc/keyshard/tls/tls.key" -}}
{{- end -}}
{{- if .Values.tls.internal.enabled -}}
{{- $_ := set $settings "KEYSHARD_SHARD_TLS_CA_FILE" "/etc/keyshard/shard-tls/ca.crt" -}}
{{- $_ := set $settings "KEYSHARD_SHARD_TLS_CERT_FILE" "/etc/keyshard/shard-tls/tls.crt" -}}
{{- $_ := set $settings "KEYSHARD_SHARD_TLS_KEY_FILE" "/etc/keyshard/shard-tls/tls.key" -}}
{{- end -}}
{{- toJson $settings -}}
{{- end -}}

{{/* The shard's TLS settings, for its settings file. */}}
{{- define "keyshard.shardTlsSettings" -}}
{{- $settings := dict "KEYSHARD_TLS_RELOAD_INTERVAL_SECONDS" (int64 .Values.tls.reloadIntervalSeconds) -}}
{{- if .Values.tls.internal.enabled -}}
{{- $_ := set $settings "KEYSHARD_TLS_CERT_FILE" "/etc/keyshard/tls/tls.crt" -}}
{{- $_ := set $settings "KEYSHARD_TLS_KEY_FILE" "/etc/keyshard/tls/tls.key" -}}
{{- $_ := set $settings "KEYSHARD_TLS_CLIENT_CA_FILE" "/etc/keyshard/tls/ca.crt" -}}
{{- end -}}
{{- toJson $settings -}}
{{- end -}}

{{/* Every TLS setting, which `gateway.config` and `shard.config` may not set. */}}
{{- define "keyshard.tlsSettingNames" -}}
{{- toJson (list "KEYSHARD_TLS_CERT_FILE" "KEYSHARD_TLS_KEY_FILE" "KEYSHARD_TLS_CLIENT_CA_FILE" "KEYSHARD_TLS_RELOAD_INTERVAL_SECONDS" "KEYSHARD_SHARD_TLS_CA_FILE" "KEYSHARD_SHARD_TLS_CERT_FILE" "KEYSHARD_SHARD_TLS_KEY_FILE" "KEYSHARD_SHARD_TLS_SERVER_NAME") -}}
{{- end -}}

{{/* Egress to Postgres, for shards and the migration Job. */}}
{{- define "keyshard.postgresEgress" -}}
- ports:
    - port: {{ .Values.networkPolicy.egress.postgresPort }}
      protocol: TCP
  {{- with .Values.networkPolicy.egress.postgresTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Egress every Keyshard pod gets when egress is restricted: DNS and `egress.extra`. */}}
{{- define "keyshard.commonEgress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with .Values.networkPolicy.egress.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- with .Values.networkPolicy.egress.extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Checks of values that the schema cannot express. */}}
{{- define "keyshard.validate" -}}
{{- if and .Values.rootKey.value (not (regexMatch "^[0-9a-fA-F]{64}$" .Values.rootKey.value)) -}}
{{- fail "rootKey.value must be 64 hex digits (32 bytes)" -}}
{{- end -}}
{{- if gt (int .Values.gateway.autoscaling.minReplicas) (int .Values.gateway.autoscaling.maxReplicas) -}}
{{- fail "gateway.autoscaling.minReplicas is larger than maxReplicas" -}}
{{- end -}}
{{- with .Values.kmsPlugin }}
{{- if .enabled -}}
{{- if not $.Values.gateway.grpc.enabled -}}
{{- fail "kmsPlugin.enabled needs gateway.grpc.enabled: the plugin calls the gateways' public gRPC API" -}}
{{- end -}}
{{- if not .keyId -}}
{{- fail "kmsPlugin.keyId: set it to the ARN of the key that protects the API server's data encryption keys" -}}
{{- end -}}
{{- if ne (index (splitList ":" .keyId) 3) $.Values.region -}}
{{- fail (printf "kmsPlugin.keyId names region %s, but the gateways serve region %s" (index (splitList ":" .keyId) 3) $.Values.region) -}}
{{- end -}}
{{- if not .existingSecret -}}
{{- fail "kmsPlugin.existingSecret: set it to the Secret holding the plugin's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" -}}
{{- end -}}
{{- end -}}
{{- end }}
{{- with .Values.tls.internal }}
{{- if and .enabled (not (and .shardSecretName .gatewaySecretName)) -}}
{{- fail "tls.internal.enabled needs tls.internal.shardSecretName and tls.internal.gatewaySecretName" -}}
{{- end -}}
{{- end }}
{{- end -}}

{{/* The gateways' public gRPC API inside the cluster, as the plugin's `KEYSHARD_ENDPOINT`. */}}
{{- define "keyshard.grpcEndpoint" -}}
{{- printf "%s://%s.%s.svc.%s:%d" (ternary "https" "http" (not (empty .Values.tls.public.secretName))) (include "keyshard.gatewayName" .) .Release.Namespace .Values.clusterDomain (int .Values.gateway.grpc.port) -}}
{{- end -}}
