#!/usr/bin/env bash
# Fails if a file includes a header of a layer above its own (DESIGN.md section 2):
# kernels/ includes only kernels/; optimizees/ and learners/ add kernels/ (not each other);
# engine/ adds optimizees/ and learners/. tools/, bench/ and test/ may include everything.
# Usage: check_layers.sh [REPO_ROOT]
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"
declare -A allowed=(
  [kernels]="kernels"
  [optimizees]="kernels optimizees"
  [learners]="kernels learners"
  [engine]="kernels optimizees learners engine"
)
bad=0
for layer in kernels optimizees learners engine; do
  while IFS= read -r line; do
    file=${line%%:*}
    target=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$line")
    case " ${allowed[$layer]} " in
      *" $target "*) ;;
      *) echo "layering: $line  ($layer/ may include only: ${allowed[$layer]})"; bad=1 ;;
    esac
  done < <(grep -HnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"(kernels|optimizees|learners|engine|tools|bench|test)/' \
             "$layer"/*.h "$layer"/*.cpp "$layer"/*.cu "$layer"/*.cuh 2>/dev/null || true)
done
if [ "$bad" = 0 ]; then echo "layering: no upward includes"; fi
exit "$bad"
