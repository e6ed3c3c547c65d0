{{/*
The gateway's name (Deployment, Service, ServiceAccount, ...): the release name.
*/}}
{{- define "mesh-gateway.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels, on every object this chart creates.
*/}}
{{- define "mesh-gateway.labels" -}}
{{ include "mesh-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mesh
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the gateway's pods.
*/}}
{{- define "mesh-gateway.selectorLabels" -}}
app.kubernetes.io/name: mesh-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: ingress-gateway
{{- end }}

{{- define "mesh-gateway.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "mesh-gateway.name" .) }}
{{- end }}

{{/*
Every label of the gateway's pods, as YAML: the chart's, the gateway labels Gateway
resources select, podLabels, and the two that keep the injector away (the gateway is a
proxy itself).
*/}}
{{- define "mesh-gateway.podLabels" -}}
{{- $labels := merge (dict "mesh.dev/inject" "false" "sidecar.istio.io/inject" "false") (include "mesh-gateway.labels" . | fromYaml) .Values.labels .Values.podLabels }}
{{- toYaml $labels }}
{{- end }}

{{/*
The pods' labels as the proxy reports them to the control plane (MESH_LABELS:
k=v,...), as the injector does for a sidecar: the downward API cannot put a pod's
labels in an env var.
*/}}
{{- define "mesh-gateway.proxyLabels" -}}
{{- $pairs := list }}
{{- range $k, $v := (include "mesh-gateway.podLabels" . | fromYaml) }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}
