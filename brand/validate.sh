#!/usr/bin/env bash
# Validates brand/config.xml and brand/platform.xml against illumos's DTDs, as
# libbrand's brand_open() does on the platform (a file that does not validate
# makes the brand unusable: "missing or invalid brand").
#
# The DTDs are read from ${OMICRON1_ILLUMOS_DTDS:-../shared/reference/illumos}
# (beside the clone). Where that folder is absent the step says so and passes:
# tests/brand_config.rs checks the same element order from the content model it
# writes down. xmllint comes from Debian's libxml2-utils, installed if missing.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dtds=${OMICRON1_ILLUMOS_DTDS:-$top/../shared/reference/illumos}

if [ ! -f "$dtds/brand.dtd.1" ] || [ ! -f "$dtds/zone_platform.dtd.1" ]; then
    echo "brand/validate.sh: SKIPPED xmllint: no illumos DTDs at $dtds" \
        "(set OMICRON1_ILLUMOS_DTDS); tests/brand_config.rs still checks the order"
    exit 0
fi
if ! command -v xmllint >/dev/null 2>&1; then
    echo "brand/validate.sh: installing xmllint (libxml2-utils)"
    as_root=()
    [ "$(id -u)" = 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get install -y --no-install-recommends libxml2-utils >/dev/null \
        || { "${as_root[@]}" apt-get update >/dev/null \
             && "${as_root[@]}" apt-get install -y --no-install-recommends libxml2-utils >/dev/null; }
fi
xmllint --noout --dtdvalid "$dtds/brand.dtd.1" "$top/brand/config.xml"
xmllint --noout --dtdvalid "$dtds/zone_platform.dtd.1" "$top/brand/platform.xml"
echo "brand/validate.sh: config.xml and platform.xml validate against $dtds"
