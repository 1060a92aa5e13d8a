{{- /*
Labels Helm charts carry by convention, on top of the construct's own (name, component, part-of).
Object names are fixed rather than derived from the release: the controller's leader Lease is
named orchard-controller, so one release per namespace is all that can work.
*/}}
{{- define "orchard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
