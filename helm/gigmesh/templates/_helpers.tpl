{{/*
The chart name, overridable with nameOverride.
*/}}
{{- define "gigmesh.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base of every resource name: fullnameOverride, else the release name when it already
contains the chart name, else <release>-<chart>. Kept short enough for "-notifications";
gigmesh.componentName refuses a longer component name that would not fit.
*/}}
{{- define "gigmesh.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 49 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 49 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 49 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
chart label value: name-version.
*/}}
{{- define "gigmesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The services (every component but the gateway): the names of .Values.services, sorted, space
separated. Fails on an entry gigmesh could not run: a name that is not lowercase letters and
digits or that is taken by the chart (gateway, migrate) or a shared configuration section,
no port, or no upstream flag.
*/}}
{{- define "gigmesh.services" -}}
{{- $names := list }}
{{- range $name, $values := .Values.services }}
{{- if not (regexMatch "^[a-z][a-z0-9]*$" $name) }}
{{- fail (printf "services.%s: a service name is lowercase letters and digits, as in gigmesh's service list" $name) }}
{{- end }}
{{- if has $name (list "gateway" "migrate" "telemetry" "bus" "upstreams") }}
{{- fail (printf "services.%s: %q is not a service name (the chart or gigmesh uses it)" $name $name) }}
{{- end }}
{{- if not (kindIs "map" $values) }}
{{- fail (printf "services.%s must be a map of the service's values" $name) }}
{{- end }}
{{- if not (dig "port" "" $values) }}
{{- fail (printf "services.%s.port is required" $name) }}
{{- end }}
{{- if not (kindIs "bool" (dig "upstream" "" $values)) }}
{{- fail (printf "services.%s.upstream is required: true when other processes call it (it serves gRPC or issues tokens), false otherwise" $name) }}
{{- end }}
{{- $names = append $names $name }}
{{- end }}
{{- sortAlpha $names | join " " }}
{{- end }}

{{/*
The services other processes call (services.<name>.upstream true), space separated.
*/}}
{{- define "gigmesh.upstreamServices" -}}
{{- $names := list }}
{{- range $name := splitList " " (include "gigmesh.services" .) | compact }}
{{- if (index $.Values.services $name).upstream }}
{{- $names = append $names $name }}
{{- end }}
{{- end }}
{{- join " " $names }}
{{- end }}

{{/*
The components the chart runs: the gateway, then the services.
*/}}
{{- define "gigmesh.components" -}}
{{- concat (list "gateway") (splitList " " (include "gigmesh.services" .) | compact) | join " " }}
{{- end }}

{{/*
Name of a component's resources. Call with (list $ "auth").
*/}}
{{- define "gigmesh.componentName" -}}
{{- $root := index . 0 }}
{{- $name := printf "%s-%s" (include "gigmesh.fullname" $root) (index . 1) }}
{{- if gt (len $name) 63 }}
{{- fail (printf "%s is longer than 63 characters: shorten fullnameOverride or the release name" $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{/*
Labels every resource carries. Call with (list $ "auth"), or (list $ "") for release-wide
resources.
*/}}
{{- define "gigmesh.labels" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
helm.sh/chart: {{ include "gigmesh.chart" $root }}
{{ include "gigmesh.selectorLabels" (list $root $component) | trim }}
app.kubernetes.io/part-of: gigmesh
app.kubernetes.io/version: {{ default $root.Chart.AppVersion $root.Values.image.tag | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select a component's pods. Call with (list $ "auth").
*/}}
{{- define "gigmesh.selectorLabels" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
app.kubernetes.io/name: {{ include "gigmesh.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
{{- if $component }}
app.kubernetes.io/component: {{ $component }}
{{- end }}
{{- end }}

{{/*
The container image reference.
*/}}
{{- define "gigmesh.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount of the gigmesh pods.
*/}}
{{- define "gigmesh.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gigmesh.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding the database URLs, the SMTP password, the mail-token secret keys and the
payment provider's secrets.
*/}}
{{- define "gigmesh.secretName" -}}
{{- default (include "gigmesh.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Whether an SMTP user name is configured ("true" or "").
*/}}
{{- define "gigmesh.smtpAuth" -}}
{{- $settings := dig "notifications" "settings" dict .Values.config }}
{{- if dig "smtp" "username" "" $settings }}true{{ end }}
{{- end }}

{{/*
Where the file mailer writes .eml files, or "" unless config.notifications.settings.mailer
is "file".
*/}}
{{- define "gigmesh.mailDir" -}}
{{- $settings := dig "notifications" "settings" dict .Values.config }}
{{- if eq (toString (dig "mailer" "" $settings)) "file" }}
{{- dig "file_dir" "/var/lib/gigmesh/mail" $settings }}
{{- end }}
{{- end }}

{{/*
Whether the payments service runs with Stripe ("true" or ""): services.payments is deployed
and config.payments.settings.provider is "stripe". gigmesh.effectiveConfig refuses any
provider but sandbox and stripe.
*/}}
{{- define "gigmesh.stripe" -}}
{{- if and (hasKey .Values.services "payments") (eq (toString (dig "payments" "settings" "provider" "" .Values.config)) "stripe") }}true{{ end }}
{{- end }}

{{/*
The payment provider's secrets, one list each: the section and leaf under
config.payments.settings, the key of secrets.payments, the key of the Secret, the
environment variable.
*/}}
{{- define "gigmesh.paymentSecrets" -}}
- [stripe, api_key, stripeApiKey, payments-stripe-api-key, GIGMESH__PAYMENTS__SETTINGS__STRIPE__API_KEY]
- [stripe, webhook_secret, stripeWebhookSecret, payments-stripe-webhook-secret, GIGMESH__PAYMENTS__SETTINGS__STRIPE__WEBHOOK_SECRET]
- [sandbox, webhook_secret, sandboxWebhookSecret, payments-sandbox-webhook-secret, GIGMESH__PAYMENTS__SETTINGS__SANDBOX__WEBHOOK_SECRET]
{{- end }}

{{/*
Where the search service keeps its tantivy index (an emptyDir in every search pod), or ""
when the index is in memory (config.search.settings.index_dir empty) or in OpenSearch
(config.search.settings.index_kind "opensearch").
*/}}
{{- define "gigmesh.searchIndexDir" -}}
{{- $settings := dig "search" "settings" dict .Values.config }}
{{- if ne (toString (dig "index_kind" "" $settings)) "opensearch" }}
{{- dig "index_dir" "" $settings }}
{{- end }}
{{- end }}

{{/*
An integer value (Helm reads numbers in values as floats) as a decimal string.
*/}}
{{- define "gigmesh.int" -}}
{{- printf "%d" (int64 .) }}
{{- end }}

{{/*
The gigmesh configuration the chart deploys, as a YAML tree: .Values.config with the keys
the chart owns (the bus adapter, every listen address, the upstreams, the mail directory of
the file mailer; no search index directory with OpenSearch). Fails on keys that belong to the
chart, the pods (search.settings.replica_id, chat.settings.replica_id) or the Secret, and on a
bad search index kind or payment provider.
*/}}
{{- define "gigmesh.effectiveConfig" -}}
{{- $config := deepCopy .Values.config }}
{{- range $service := splitList " " (include "gigmesh.services" .) | compact }}
{{- if hasKey (dig $service "database" dict $config) "url" }}
{{- fail (printf "config.%s.database.url is a secret: set secrets.databaseUrls.%s, or the %s-database-url key of secrets.existingSecret" $service $service $service) }}
{{- end }}
{{- end }}
{{- if hasKey (dig "notifications" "settings" "smtp" dict $config) "password" }}
{{- fail "config.notifications.settings.smtp.password is a secret: set secrets.smtpPassword, or the smtp-password key of secrets.existingSecret" }}
{{- end }}
{{- range $secret := include "gigmesh.paymentSecrets" . | fromYamlArray }}
{{- if hasKey (dig "payments" "settings" (index $secret 0) dict $config) (index $secret 1) }}
{{- fail (printf "config.payments.settings.%s.%s is a secret: set secrets.payments.%s, or the %s key of secrets.existingSecret" (index $secret 0) (index $secret 1) (index $secret 2) (index $secret 3)) }}
{{- end }}
{{- end }}
{{- $provider := toString (dig "payments" "settings" "provider" "" $config) }}
{{- if not (has $provider (list "" "sandbox" "stripe")) }}
{{- fail (printf "config.payments.settings.provider must be sandbox or stripe, not %q" $provider) }}
{{- end }}
{{- if hasKey (dig "search" "settings" dict $config) "replica_id" }}
{{- fail "config.search.settings.replica_id is set by the chart (each search pod uses its pod name); remove it from config" }}
{{- end }}
{{- if hasKey (dig "chat" "settings" dict $config) "replica_id" }}
{{- fail "config.chat.settings.replica_id is set by the chart (each chat pod uses its pod name); remove it from config" }}
{{- end }}
{{- $indexKind := toString (dig "search" "settings" "index_kind" "" $config) }}
{{- if not (has $indexKind (list "" "tantivy" "opensearch")) }}
{{- fail (printf "config.search.settings.index_kind must be tantivy or opensearch, not %q" $indexKind) }}
{{- end }}
{{- if and (eq $indexKind "opensearch") (not (dig "search" "settings" "opensearch_url" "" $config)) }}
{{- fail "config.search.settings.opensearch_url is required when config.search.settings.index_kind is opensearch" }}
{{- end }}
{{- $ownedKeys := list (list "bus" "kind") (list "gateway" "listen") (list "telemetry" "metrics_listen") }}
{{- range $service := splitList " " (include "gigmesh.upstreamServices" .) | compact }}
{{- $ownedKeys = append $ownedKeys (list "upstreams" $service) }}
{{- end }}
{{- range $service := splitList " " (include "gigmesh.services" .) | compact }}
{{- $ownedKeys = append $ownedKeys (list $service "listen") }}
{{- $ownedKeys = append $ownedKeys (list $service "metrics_listen") }}
{{- end }}
{{- range $key := $ownedKeys }}
{{- $section := index $key 0 }}
{{- $leaf := index $key 1 }}
{{- if and (hasKey $config $section) (hasKey (index $config $section | default dict) $leaf) }}
{{- fail (printf "config.%s.%s is set by the chart (from the ports, Service names and the Kafka bus); remove it from config" $section $leaf) }}
{{- end }}
{{- end }}
{{- $metricsListen := printf "0.0.0.0:%s" (include "gigmesh.int" .Values.metrics.port) }}
{{- $owned := dict
  "bus" (dict "kind" "kafka")
  "gateway" (dict "listen" (printf "0.0.0.0:%s" (include "gigmesh.int" .Values.gateway.port)))
  "telemetry" (dict "metrics_listen" $metricsListen)
  "upstreams" dict
}}
{{- range $service := splitList " " (include "gigmesh.upstreamServices" .) | compact }}
{{- $_ := set $owned.upstreams $service (printf "http://%s:%s" (include "gigmesh.componentName" (list $ $service)) (include "gigmesh.int" (index $.Values.services $service).port)) }}
{{- end }}
{{- range $service := splitList " " (include "gigmesh.services" .) | compact }}
{{- $_ := set $owned $service (dict
  "listen" (printf "0.0.0.0:%s" (include "gigmesh.int" (index $.Values.services $service).port))
  "metrics_listen" $metricsListen) }}
{{- end }}
{{- with include "gigmesh.mailDir" . }}
{{- if hasKey $owned "notifications" }}
{{- $_ := set $owned.notifications "settings" (dict "file_dir" .) }}
{{- end }}
{{- end }}
{{- if eq $indexKind "opensearch" }}
{{- $_ := unset (dig "search" "settings" dict $config) "index_dir" }}
{{- end }}
{{- toYaml (mustMergeOverwrite $config $owned) }}
{{- end }}

{{/*
A configuration tree flattened to GIGMESH__ variables, one `NAME: "value"` line each; null
and empty strings are left out, so gigmesh keeps its default for them.
Call with (dict "prefix" "GIGMESH" "tree" $tree).
*/}}
{{- define "gigmesh.flattenConfig" -}}
{{- $prefix := .prefix }}
{{- range $key, $value := .tree }}
{{- $name := printf "%s__%s" $prefix (upper $key) }}
{{- if kindIs "map" $value }}
{{- include "gigmesh.flattenConfig" (dict "prefix" $name "tree" $value) }}
{{- else if kindIs "slice" $value }}
{{ $name }}: {{ toJson $value | quote }}
{{- else if or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value "")) }}
{{- /* empty: gigmesh keeps its default */}}
{{- else if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) }}
{{ $name }}: {{ include "gigmesh.int" $value | quote }}
{{- else }}
{{ $name }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The non-secret environment of every gigmesh process, as `NAME: "value"` lines.
*/}}
{{- define "gigmesh.configEnv" -}}
{{- include "gigmesh.flattenConfig" (dict "prefix" "GIGMESH" "tree" (include "gigmesh.effectiveConfig" . | fromYaml)) }}
{{- end }}

{{/*
Environment variables a process reads from the Secret. Call with (list $ "auth" $secretName);
the component "migrate" gets every database URL.
*/}}
{{- define "gigmesh.secretEnv" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $secretName := index . 2 }}
{{- $services := list $component }}
{{- if eq $component "migrate" }}
{{- $services = splitList " " (include "gigmesh.services" $root) | compact }}
{{- end }}
{{- range $service := $services }}
{{- if has $service (splitList " " (include "gigmesh.services" $root) | compact) }}
- name: GIGMESH__{{ upper $service }}__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $service }}-database-url
{{- end }}
{{- end }}
{{- if and (has $component (list "notifications" "migrate")) (include "gigmesh.smtpAuth" $root) }}
- name: GIGMESH__NOTIFICATIONS__SETTINGS__SMTP__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: smtp-password
{{- end }}
{{- /* Stripe's secrets: the payments pods, and the migration Job, which checks every
service's settings. The sandbox's webhook secret: the payments pods only (its default passes
the Job's check); from secrets.existingSecret when the key is there. */}}
{{- $stripe := include "gigmesh.stripe" $root }}
{{- range $secret := include "gigmesh.paymentSecrets" $root | fromYamlArray }}
{{- $isStripe := eq (index $secret 0) "stripe" }}
{{- $given := or $root.Values.secrets.existingSecret (dig "payments" (index $secret 2) "" $root.Values.secrets) }}
{{- $wanted := ternary (and $stripe (has $component (list "payments" "migrate"))) (and (not $stripe) (eq $component "payments") $given) $isStripe }}
{{- if and $wanted (has "payments" (splitList " " (include "gigmesh.services" $root))) }}
- name: {{ index $secret 4 }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ index $secret 3 }}
      {{- if and (not $isStripe) $root.Values.secrets.existingSecret }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}
{{- if eq $component "notifications" }}
{{- range $keyId := keys $root.Values.secrets.mailTokenKeys | sortAlpha }}
- name: GIGMESH__NOTIFICATIONS__SETTINGS__MAIL_TOKEN_KEYS__{{ upper $keyId }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: mail-token-key-{{ $keyId }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Fails when the chart-made Secret would lack a value the processes need.
*/}}
{{- define "gigmesh.checkSecrets" -}}
{{- if not .Values.secrets.existingSecret }}
{{- range $service := splitList " " (include "gigmesh.services" .) | compact }}
{{- if not (index $.Values.secrets.databaseUrls $service) }}
{{- fail (printf "secrets.databaseUrls.%s is required (or set secrets.existingSecret)" $service) }}
{{- end }}
{{- end }}
{{- if and (include "gigmesh.smtpAuth" .) (not .Values.secrets.smtpPassword) }}
{{- fail "secrets.smtpPassword is required when config.notifications.settings.smtp.username is set (or set secrets.existingSecret)" }}
{{- end }}
{{- if include "gigmesh.stripe" . }}
{{- range $secret := include "gigmesh.paymentSecrets" . | fromYamlArray }}
{{- if and (eq (index $secret 0) "stripe") (not (dig "payments" (index $secret 2) "" $.Values.secrets)) }}
{{- fail (printf "secrets.payments.%s is required when config.payments.settings.provider is stripe (or set secrets.existingSecret with the %s key)" (index $secret 2) (index $secret 3)) }}
{{- end }}
{{- end }}
{{- end }}
{{- with dig "payments" "sandboxWebhookSecret" "" .Values.secrets }}
{{- if lt (len .) 16 }}
{{- fail "secrets.payments.sandboxWebhookSecret must be at least 16 characters" }}
{{- end }}
{{- end }}
{{- range $keyId, $secretKey := .Values.secrets.mailTokenKeys }}
{{- if not $secretKey }}
{{- fail (printf "secrets.mailTokenKeys.%s is empty (or set secrets.existingSecret)" $keyId) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $keyId := keys .Values.secrets.mailTokenKeys }}
{{- if not (regexMatch "^[a-z0-9_]{1,32}$" $keyId) }}
{{- fail (printf "secrets.mailTokenKeys.%s: a key id is 1 to 32 lowercase letters, digits or _" $keyId) }}
{{- end }}
{{- end }}
{{- $sealingKeyId := dig "auth" "settings" "mail_token_public_key" "key_id" "" .Values.config }}
{{- if and $sealingKeyId (not (hasKey .Values.secrets.mailTokenKeys $sealingKeyId)) }}
{{- fail (printf "config.auth.settings.mail_token_public_key.key_id %q has no secret key in secrets.mailTokenKeys: notifications could not open the mails" $sealingKeyId) }}
{{- end }}
{{- end }}

{{/*
The data of the chart-made Secret.
*/}}
{{- define "gigmesh.secretData" -}}
{{- range $service := splitList " " (include "gigmesh.services" .) | compact }}
{{ $service }}-database-url: {{ index $.Values.secrets.databaseUrls $service | quote }}
{{- end }}
{{- if .Values.secrets.smtpPassword }}
smtp-password: {{ .Values.secrets.smtpPassword | quote }}
{{- end }}
{{- range $keyId := keys .Values.secrets.mailTokenKeys | sortAlpha }}
mail-token-key-{{ $keyId }}: {{ index $.Values.secrets.mailTokenKeys $keyId | quote }}
{{- end }}
{{- range $secret := include "gigmesh.paymentSecrets" . | fromYamlArray }}
{{- with dig "payments" (index $secret 2) "" $.Values.secrets }}
{{ index $secret 3 }}: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Volumes every gigmesh pod mounts: a small /tmp, as the root file system is read-only.
*/}}
{{- define "gigmesh.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "gigmesh.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}
