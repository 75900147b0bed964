#!/bin/sh
# Launch agent for `kubectl exec` mode: sharpmpi run --launch-agent "/usr/local/bin/kubexec.sh {host}" ...
# The hostfile names pods by DNS name (<job>-worker-0.<job>.<ns>.svc); kubectl exec wants the pod name,
# the first label. -i passes stdin through: the agent reads its setup from it and kills its ranks when
# it closes. Needs a service account allowed to create pods/exec (see docs/kubernetes.md).
set -eu
pod="${1%%.*}"
shift
exec kubectl exec -i "$pod" -- "$@"
