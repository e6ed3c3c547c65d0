{{/*
Standard labels, on every object this chart creates.
*/}}
{{- define "mesh-base.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mesh
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Namespace mesh-control runs in: global.controlPlaneNamespace, else the release's.
*/}}
{{- define "mesh-base.controlPlaneNamespace" -}}
{{- .Values.global.controlPlaneNamespace | default .Release.Namespace }}
{{- end }}

{{/*
The control plane's ServiceAccount, created by the mesh-control chart.
*/}}
{{- define "mesh-base.controlPlaneServiceAccount" -}}
mesh-control
{{- end }}

{{/*
The mesh kinds mesh-control reads, by group (the same in our groups and Istio's).
*/}}
{{- define "mesh-base.networkingResources" -}}
virtualservices, destinationrules, serviceentries, gateways, sidecars, workloadentries
{{- end }}

{{- define "mesh-base.securityResources" -}}
peerauthentications, authorizationpolicies, requestauthentications
{{- end }}
