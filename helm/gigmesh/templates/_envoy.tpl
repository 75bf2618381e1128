{{/*
Envoy at the edge: its bootstrap and the SDS file with the public certificate. The bootstrap
for a release named gigmesh with the default values is k8s/envoy/envoy.yaml (scripts/check-deploy
compares them), which the distributed end-to-end test runs.
*/}}

{{/*
Seconds as an Envoy duration ("300s").
*/}}
{{- define "gigmesh.envoySeconds" -}}
{{- printf "%ds" (int64 .) }}
{{- end }}

{{/*
Fails when the edge would hide the clients: with Envoy or an Ingress in front, the gateway
must believe their x-forwarded-for, else every client looks like the proxy and shares its
rate limit.
*/}}
{{- define "gigmesh.checkEdge" -}}
{{- $trusted := dig "gateway" "trusted_proxies" list .Values.config }}
{{- if and (or .Values.envoy.enabled .Values.gateway.ingress.enabled) (empty $trusted) }}
{{- fail (printf "config.gateway.trusted_proxies is empty, but %s sits in front of the gateway: list its addresses or network (e.g. the pod network), else every client looks like the proxy and shares its rate limit" (ternary "Envoy (envoy.enabled)" "an Ingress (gateway.ingress.enabled)" .Values.envoy.enabled)) }}
{{- end }}
{{- if and .Values.envoy.enabled .Values.gateway.ingress.enabled }}
{{- fail "gateway.ingress.enabled and envoy.enabled: the Ingress would route to the gateway, which takes calls from Envoy only; Envoy is the edge (envoy.service), or set envoy.enabled false" }}
{{- end }}
{{- $gatewayType := dig "service" "type" "ClusterIP" .Values.gateway }}
{{- if and .Values.envoy.enabled (ne $gatewayType "ClusterIP") }}
{{- fail (printf "gateway.service.type %s with envoy.enabled: Envoy is the edge and the gateway takes calls from Envoy only; expose envoy.service, or set envoy.enabled false" $gatewayType) }}
{{- end }}
{{- if and .Values.envoy.enabled (not .Values.envoy.tls.secretName) }}
{{- fail "envoy.tls.secretName is required: the kubernetes.io/tls Secret with Envoy's public certificate" }}
{{- end }}
{{- end }}

{{/*
The Envoy image reference.
*/}}
{{- define "gigmesh.envoyImage" -}}
{{- if .Values.envoy.image.digest }}
{{- printf "%s@%s" .Values.envoy.image.repository .Values.envoy.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.envoy.image.repository .Values.envoy.image.tag }}
{{- end }}
{{- end }}

{{/*
The SDS resource with the public certificate, read from the Secret's mount.
*/}}
{{- define "gigmesh.envoyCertificate" -}}
resources:
  - "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
    name: edge-certificate
    tls_certificate:
      certificate_chain:
        filename: /etc/envoy/tls/tls.crt
      private_key:
        filename: /etc/envoy/tls/tls.key
      watched_directory:
        path: /etc/envoy/tls
{{- end }}

{{/*
An HTTP connection manager of an ops listener that routes one GET path to admin.
Call with (dict "name" "health" "path" "/ready" "rewrite" "" "timeout" "2s").
*/}}
{{- define "gigmesh.envoyAdminRoute" -}}
- name: envoy.filters.network.http_connection_manager
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
    stat_prefix: {{ .name }}
    route_config:
      name: {{ .name }}
      virtual_hosts:
        - name: {{ .name }}
          domains:
            - "*"
          routes:
            - match:
                path: {{ .path }}
                headers:
                  - name: ":method"
                    string_match:
                      exact: GET
              route:
                cluster: admin
                {{- with .rewrite }}
                prefix_rewrite: {{ . }}
                {{- end }}
                timeout: {{ .timeout }}
    http_filters:
      - name: envoy.filters.http.router
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
{{- end }}

{{/*
Envoy's bootstrap.
*/}}
{{- define "gigmesh.envoyBootstrap" -}}
{{- $envoy := .Values.envoy }}
{{- $timeouts := $envoy.timeouts }}
{{- $name := include "gigmesh.componentName" (list . "envoy") }}
node:
  id: {{ $name }}
  cluster: {{ $name }}
admin:
  address:
    socket_address:
      address: 127.0.0.1
      port_value: {{ include "gigmesh.int" $envoy.adminPort }}
overload_manager:
  resource_monitors:
    - name: envoy.resource_monitors.global_downstream_max_connections
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
        max_active_downstream_connections: {{ include "gigmesh.int" $envoy.maxDownstreamConnections }}
static_resources:
  listeners:
    - name: public
      address:
        socket_address:
          address: 0.0.0.0
          port_value: {{ include "gigmesh.int" $envoy.port }}
      per_connection_buffer_limit_bytes: 32768
      {{- if $envoy.proxyProtocol }}
      listener_filters:
        - name: envoy.filters.listener.proxy_protocol
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol
      {{- end }}
      filter_chains:
        - transport_socket:
            name: envoy.transport_sockets.tls
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
              common_tls_context:
                alpn_protocols:
                  - h2
                  - http/1.1
                tls_params:
                  tls_minimum_protocol_version: {{ $envoy.tls.minimumProtocolVersion }}
                tls_certificate_sds_secret_configs:
                  - name: edge-certificate
                    sds_config:
                      resource_api_version: V3
                      path_config_source:
                        path: /etc/envoy/config/edge-certificate.yaml
          filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: public
                codec_type: AUTO
                use_remote_address: true
                xff_num_trusted_hops: {{ include "gigmesh.int" $envoy.xffNumTrustedHops }}
                normalize_path: true
                merge_slashes: true
                path_with_escaped_slashes_action: REJECT_REQUEST
                stream_idle_timeout: {{ include "gigmesh.envoySeconds" $timeouts.streamIdleSeconds }}
                request_headers_timeout: {{ include "gigmesh.envoySeconds" $timeouts.requestHeadersSeconds }}
                drain_timeout: {{ include "gigmesh.envoySeconds" $timeouts.drainSeconds }}
                common_http_protocol_options:
                  idle_timeout: {{ include "gigmesh.envoySeconds" $timeouts.connectionIdleSeconds }}
                  max_connection_duration: {{ include "gigmesh.envoySeconds" $timeouts.maxConnectionDurationSeconds }}
                  headers_with_underscores_action: REJECT_REQUEST
                http2_protocol_options:
                  max_concurrent_streams: {{ include "gigmesh.int" $envoy.maxConcurrentStreams }}
                  initial_stream_window_size: 65536
                  initial_connection_window_size: 1048576
                access_log:
                  - name: envoy.access_loggers.stdout
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                      log_format:
                        json_format:
                          time: "%START_TIME%"
                          method: "%REQ(:METHOD)%"
                          path: "%REQ(:PATH)%"
                          protocol: "%PROTOCOL%"
                          status: "%RESPONSE_CODE%"
                          grpc_status: "%GRPC_STATUS(NUMBER)%"
                          flags: "%RESPONSE_FLAGS%"
                          duration_ms: "%DURATION%"
                          client: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
                          upstream: "%UPSTREAM_HOST%"
                          request_id: "%REQ(X-REQUEST-ID)%"
                route_config:
                  name: gateway
                  virtual_hosts:
                    - name: gateway
                      domains:
                        - "*"
                      # Every path goes to the gateway: gRPC and grpc-web calls, the mail
                      # pages (/verify-email, /reset-password), the sandbox's card form
                      # (/checkout/sandbox) and the payment provider's webhooks (POST
                      # /webhooks/stripe). Bodies stream through: no filter buffers a whole
                      # request and no route retries, and per_connection_buffer_limit_bytes
                      # only paces reads (flow control), not a size cap, so a webhook body up
                      # to the gateway's own cap (256 KiB) passes unchanged.
                      routes:
                        - match:
                            prefix: /
                          route:
                            cluster: gateway
                            # No deadline: Envoy's default route timeout (15 s for the whole
                            # response) would cut chat's StreamEvents, a server stream open
                            # for as long as the client listens. Its heartbeat every 25 s
                            # keeps it well inside stream_idle_timeout
                            # (envoy.timeouts.streamIdleSeconds).
                            timeout: 0s
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
    - name: health
      address:
        socket_address:
          address: 0.0.0.0
          port_value: {{ include "gigmesh.int" $envoy.healthPort }}
      filter_chains:
        - filters:
            {{- include "gigmesh.envoyAdminRoute" (dict "name" "health" "path" "/ready" "rewrite" "" "timeout" "2s") | nindent 12 }}
    - name: metrics
      address:
        socket_address:
          address: 0.0.0.0
          port_value: {{ include "gigmesh.int" .Values.metrics.port }}
      filter_chains:
        - filters:
            {{- include "gigmesh.envoyAdminRoute" (dict "name" "metrics" "path" "/metrics" "rewrite" "/stats/prometheus" "timeout" "10s") | nindent 12 }}
  clusters:
    - name: gateway
      cluster_type:
        name: envoy.clusters.dns
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.clusters.dns.v3.DnsCluster
          all_addresses_in_single_endpoint: false
          dns_lookup_family: V4_PREFERRED
          dns_refresh_rate: 5s
          respect_dns_ttl: false
      lb_policy: LEAST_REQUEST
      connect_timeout: 2s
      per_connection_buffer_limit_bytes: 32768
      load_assignment:
        cluster_name: gateway
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address:
                      address: {{ include "gigmesh.componentName" (list . "gateway-pods") }}
                      port_value: {{ include "gigmesh.int" .Values.gateway.port }}
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          common_http_protocol_options:
            idle_timeout: {{ include "gigmesh.envoySeconds" $timeouts.streamIdleSeconds }}
          explicit_http_config:
            http2_protocol_options:
              connection_keepalive:
                interval: 30s
                timeout: 5s
      circuit_breakers:
        thresholds:
          - priority: DEFAULT
            max_connections: 10000
            max_pending_requests: 10000
            max_requests: {{ include "gigmesh.int" $envoy.maxUpstreamRequests }}
            max_retries: 3
      health_checks:
        - timeout: 1s
          interval: 5s
          unhealthy_threshold: 2
          healthy_threshold: 1
          grpc_health_check: {}
      outlier_detection:
        consecutive_5xx: 5
        consecutive_gateway_failure: 5
        base_ejection_time: 10s
    - name: admin
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: admin
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address:
                      address: 127.0.0.1
                      port_value: {{ include "gigmesh.int" $envoy.adminPort }}
{{- end }}
