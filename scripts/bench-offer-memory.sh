#!/bin/sh
# Peak memory of `cloudstor cost --offer-file` on a large AmazonEC2-style offer file, for
# docs/benchmarks.md. Generates a synthetic file in AWS's bulk JSON format (default 400 MB:
# compute-instance products with EC2's attribute set and their OnDemand terms, plus the EBS
# products the estimator uses), then runs each binary 3 times under /usr/bin/time and prints
# the median peak RSS and wall time.
#
#   scripts/bench-offer-memory.sh [MEGABYTES] [OTHER_CLOUDSTOR_BINARY...]
#
# The binary of this checkout is built in the dev profile (an optimised AWS SDK takes over half
# an hour to build here); pass another build (e.g. an older commit's) to measure it side by side.
set -eu
cd "$(dirname "$0")/.."
megabytes="${1:-400}"
[ $# -gt 0 ] && shift
cargo build --bin cloudstor
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
offer="$work/AmazonEC2-index.json"

python3 - "$offer" "$megabytes" <<'PY'
import json, sys
path, megabytes = sys.argv[1], int(sys.argv[2])
target = megabytes * 1_000_000

def term(sku, unit, usd):
    code = f"{sku}.JRTCKXETXF"
    return json.dumps({code: {"offerTermCode": "JRTCKXETXF", "sku": sku,
        "effectiveDate": "2026-11-01T00:00:00Z", "termAttributes": {},
        "priceDimensions": {f"{code}.6YS6EN2CT7": {"rateCode": f"{code}.6YS6EN2CT7",
            "description": f"${usd} per {unit} for {sku}", "beginRange": "0", "endRange": "Inf",
            "unit": unit, "pricePerUnit": {"USD": usd}, "appliesTo": []}}}})

def instance(n):
    sku = f"SYNTH{n:011d}"
    attributes = {"servicecode": "AmazonEC2", "location": "US East (N. Virginia)",
        "locationType": "AWS Region", "regionCode": "us-east-1", "instanceType": f"m{n % 9}.large",
        "currentGeneration": "Yes", "instanceFamily": "General purpose", "vcpu": "2",
        "physicalProcessor": "Intel Xeon Platinum 8175", "clockSpeed": "3.1 GHz",
        "memory": "8 GiB", "storage": "EBS only", "networkPerformance": "Up to 10 Gigabit",
        "processorArchitecture": "64-bit", "tenancy": "Shared", "operatingSystem": "Linux",
        "licenseModel": "No License required", "usagetype": f"BoxUsage:m{n % 9}.large",
        "operation": "RunInstances", "capacitystatus": "Used", "dedicatedEbsThroughput": "Up to 2120 Mbps",
        "ecu": "10", "enhancedNetworkingSupported": "Yes", "gpuMemory": "NA",
        "intelAvxAvailable": "Yes", "intelAvx2Available": "Yes", "intelTurboAvailable": "Yes",
        "marketoption": "OnDemand", "normalizationSizeFactor": "4", "preInstalledSw": "NA",
        "processorFeatures": "Intel AVX; Intel AVX2; Intel AVX512; Intel Turbo",
        "vpcnetworkingsupport": "true", "servicename": "Amazon Elastic Compute Cloud"}
    product = {"sku": sku, "productFamily": "Compute Instance", "attributes": attributes}
    return sku, json.dumps(product), term(sku, "Hrs", f"0.{n % 1000:03d}0000000")

ebs = [("EBSGP3STORAGE01", "Storage", "EBS:VolumeUsage.gp3", "GB-Mo", "0.0800000000"),
       ("EBSGP3IOPS00001", "System Operation", "EBS:VolumeP-IOPS.gp3", "IOPS-Mo", "0.0050000000"),
       ("EBSGP3THROUGHP1", "Provisioned Throughput", "EBS:VolumeP-Throughput.gp3", "GiBps-mo", "40.9600000000")]

products, terms, size, n = [], [], 0, 0
while size < target:
    sku, product, on_demand = instance(n)
    products.append(f'"{sku}":{product}')
    terms.append(f'"{sku}":{on_demand}')
    size += len(products[-1]) + len(terms[-1])
    n += 1
    if n == 1000:
        for sku, family, usage, unit, usd in ebs:
            attributes = {"servicecode": "AmazonEC2", "location": "US East (N. Virginia)",
                "locationType": "AWS Region", "regionCode": "us-east-1", "usagetype": usage}
            products.append(f'"{sku}":' + json.dumps({"sku": sku, "productFamily": family, "attributes": attributes}))
            terms.append(f'"{sku}":' + term(sku, unit, usd))
with open(path, "w") as out:
    out.write('{"formatVersion":"v1.0","disclaimer":"synthetic benchmark file","offerCode":"AmazonEC2",'
              '"version":"20261101000000","publicationDate":"2026-11-01T00:00:00Z","products":{')
    out.write(",\n".join(products))
    out.write('},"terms":{"OnDemand":{')
    out.write(",\n".join(terms))
    out.write('}}}\n')
PY
echo "offer file: $(du -m "$offer" | cut -f1) MB"

measure() {
    binary="$1"
    for _ in 1 2 3; do
        /usr/bin/time -f "%M %e" -o "$work/time" "$binary" cost --size 100GB --region us-east-1 \
            --ebs-throughput 250 --offer-file "$offer" >"$work/out" 2>"$work/err" || {
            echo "$binary failed:"; cat "$work/err"; return 1; }
        cat "$work/time"
    done | sort -n | sed -n 2p | awk -v b="$binary" '{printf "%s: peak RSS %.1f MiB, %s s (medians of 3)\n", b, $1 / 1024, $2}'
    grep -q 'offer file' "$work/out" || { echo "the offer file's prices were not used"; return 1; }
}

for binary in "$target/debug/cloudstor" "$@"; do
    measure "$binary"
done
