{{/*
Standard labels, on every object this chart creates.
*/}}
{{- define "mesh-control.labels" -}}
{{ include "mesh-control.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mesh
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the control plane's pods (Deployment, Service, PDB).
*/}}
{{- define "mesh-control.selectorLabels" -}}
app.kubernetes.io/name: mesh-control
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: control-plane
{{- end }}

{{/*
The images' tag: global.tag, else the chart's appVersion.
*/}}
{{- define "mesh-control.tag" -}}
{{- .Values.global.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The control plane's Service DNS name, which its serving certificates name.
*/}}
{{- define "mesh-control.serviceHost" -}}
mesh-control.{{ .Release.Namespace }}.svc
{{- end }}

{{/*
True (non-empty) when the control plane runs outside this cluster.
*/}}
{{- define "mesh-control.external" -}}
{{- if .Values.externalControlPlane.url }}true{{ end }}
{{- end }}

{{/*
A webhook's clientConfig: the mesh-control Service, or the external control plane's URL
with its CA. The in-cluster form has no caBundle: mesh-control patches its root in, and
leaving the field out keeps `helm upgrade` from resetting it.
*/}}
{{- define "mesh-control.webhookClientConfig" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- with $root.Values.externalControlPlane }}
{{- if .url }}
url: {{ printf "%s%s" (trimSuffix "/" .url) $path | quote }}
caBundle: {{ required "externalControlPlane.caBundle: the base64 PEM of the CA of the external control plane's webhook server is required with externalControlPlane.url" .caBundle }}
{{- else }}
service:
  name: mesh-control
  namespace: {{ $root.Release.Namespace }}
  path: {{ $path }}
  port: 443
{{- end }}
{{- end }}
{{- end }}

{{/*
Namespaces never sent to the injector, whatever their labels: the apiserver's own and
the control plane's (which must start without itself).
*/}}
{{- define "mesh-control.excludedNamespaces" -}}
- key: kubernetes.io/metadata.name
  operator: NotIn
  values: [kube-system, {{ .Release.Namespace }}]
{{- end }}

{{/*
What every injection webhook shares; each differs only in its selectors.
Arguments: (list $root nameprefix).
*/}}
{{- define "mesh-control.injectionWebhook" }}
- name: {{ index . 1 }}.sidecar-injector.mesh.dev
  clientConfig:
    {{- include "mesh-control.webhookClientConfig" (list (index . 0) "/inject") | trim | nindent 4 }}
  rules:
    - operations: [CREATE]
      apiGroups: [""]
      apiVersions: [v1]
      resources: [pods]
      scope: Namespaced
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: {{ (index . 0).Values.sidecarInjector.failurePolicy }}
  reinvocationPolicy: {{ (index . 0).Values.sidecarInjector.reinvocationPolicy }}
  timeoutSeconds: {{ (index . 0).Values.sidecarInjector.timeoutSeconds }}
  matchPolicy: Equivalent
{{- end }}
