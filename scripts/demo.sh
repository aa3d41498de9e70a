#!/usr/bin/env bash
# The README's demo: a local AWS emulator (moto) and examples/basic.toml walked through
# plan -> apply -> plan ("No changes") -> destroy, showing what a user would see.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v moto_server >/dev/null || python3 -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
cargo build --quiet --bin cloudstor
cloudstor=target/debug/cloudstor

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
work=$(mktemp -d)
trap 'kill $moto_pid 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

# The emulator's default VPC, three of its subnets, and a security group for the swarm nodes
# stand in for the ids a user writes into the spec.
python3 - "$work/cloudstor.toml" <<'PY'
import sys, boto3
ec2 = boto3.client("ec2")
vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"], key=lambda s: s["AvailabilityZone"])
nodes = ec2.create_security_group(GroupName="swarm-nodes", Description="swarm nodes", VpcId=vpc)["GroupId"]
spec = open("examples/basic.toml").read().replace("vpc-0123456789abcdef0", vpc).replace("sg-0123456789abcdef0", nodes)
for i, subnet in enumerate(subnets[:3], start=1):
    spec = spec.replace(f"subnet-0aaaaaaaaaaaaaaa{i}", subnet["SubnetId"])
open(sys.argv[1], "w").write(spec)
PY

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
step "cloudstor plan -f examples/basic.toml   (ids filled in from the emulator)"
$cloudstor plan -f "$work/cloudstor.toml"
step "cloudstor apply --auto-approve"
$cloudstor apply -f "$work/cloudstor.toml" --auto-approve
step "cloudstor plan   (again: nothing left to do)"
$cloudstor plan -f "$work/cloudstor.toml" --detailed-exitcode
step "cloudstor destroy --auto-approve   (refused: file systems are protected by default)"
$cloudstor destroy -f "$work/cloudstor.toml" --auto-approve || true
step "cloudstor destroy --auto-approve --allow-data-loss"
$cloudstor destroy -f "$work/cloudstor.toml" --auto-approve --allow-data-loss
