{{/* The prefix of the objects' names: cephfs-csi for a release of that name. */}}
{{- define "cephfs-csi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* What selects a component's pods: deploy/csi's selectors, unchanged. */}}
{{- define "cephfs-csi.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* deploy/csi's labels, and Helm's. Call with (dict "root" $ "component" "node"). */}}
{{- define "cephfs-csi.labels" -}}
{{ include "cephfs-csi.selectorLabels" . }}
app.kubernetes.io/part-of: cephfs-csi
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Pod template labels: without the chart's version, so that a new chart alone rolls no pod. */}}
{{- define "cephfs-csi.podLabels" -}}
{{ include "cephfs-csi.selectorLabels" . }}
app.kubernetes.io/part-of: cephfs-csi
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "cephfs-csi.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The kubelet's plugin directory of this driver, holding the CSI socket. */}}
{{- define "cephfs-csi.pluginDir" -}}
{{ .Values.kubeletDir }}/plugins/{{ .Values.driverName }}
{{- end -}}

{{- define "cephfs-csi.stagingDir" -}}
{{ .Values.kubeletDir }}/plugins/kubernetes.io/csi
{{- end -}}

{{- define "cephfs-csi.mountHolderDir" -}}
{{ .Values.kubeletDir }}/plugins/{{ .Values.driverName }}-mount-holder
{{- end -}}

{{/* A secret's namespace: the value, else the release's. */}}
{{- define "cephfs-csi.secretNamespace" -}}
{{ .ns | default .root.Release.Namespace }}
{{- end -}}

{{- define "cephfs-csi.sidecarSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
{{- end -}}

{{/* The cluster config volume: the ConfigMap's key as config.json. */}}
{{- define "cephfs-csi.configVolume" -}}
configMap:
  name: {{ .Values.configMapName }}
  {{- if ne .Values.configMapKey "config.json" }}
  items:
    - key: {{ .Values.configMapKey }}
      path: config.json
  {{- end }}
{{- end -}}

{{/* Where node pods go: the node plugin and the mount holder share it, as one needs the other. */}}
{{- define "cephfs-csi.nodeScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeplugin.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeplugin.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeplugin.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
