#!/usr/bin/env bash
# ./pack.sh [output-dir]: packs everything SharpMPI ships into artifacts/packages/ (or output-dir):
#   SharpMpi.<v>.nupkg + .snupkg        the library
#   SharpMpi.Tool.<v>.nupkg + .snupkg   the `sharpmpi` launcher (a dotnet tool)
#   SharpMpi.Templates.<v>.nupkg        `dotnet new sharpmpi-app`
# The version is VersionPrefix in Directory.Build.props; pass e.g. VERSION_SUFFIX=preview.1 to add a suffix.
# Try the packages from that folder:
#   dotnet tool install -g --add-source artifacts/packages SharpMpi.Tool
#   dotnet new install artifacts/packages/SharpMpi.Templates.<v>.nupkg
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(realpath -m "${1:-$here/artifacts/packages}")"
mkdir -p "$out"

args=(-c Release -o "$out" -nologo -v q -clp:ErrorsOnly)
[[ -n "${VERSION_SUFFIX:-}" ]] && args+=("--version-suffix" "$VERSION_SUFFIX")

# One after the other: the tool's pack builds the library too, and the machine has few cores.
for project in src/SharpMpi/SharpMpi.csproj src/SharpMpi.Run/SharpMpi.Run.csproj templates/SharpMpi.Templates.csproj; do
    echo "== pack $project"
    dotnet pack "$here/$project" "${args[@]}"
done
ls -1 "$out"
