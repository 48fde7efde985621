"""AWS public service address ranges and names, as the emulator's built-in internet.

Real ranges come from ip-ranges.json and change often; netemu ships a small fixed excerpt
so that results are deterministic. A topology can add or override prefix lists."""

from __future__ import annotations

import ipaddress

from netemu.model.resources import PrefixList

# AWS-managed prefix lists for the gateway-endpoint services (E1), per Region.
_GATEWAY_RANGES = {
    ("us-east-1", "s3"): ("pl-63a5400a", ("52.216.0.0/15", "54.231.0.0/16", "3.5.0.0/19",
                                          "16.182.0.0/16", "18.34.0.0/19")),
    ("us-east-1", "dynamodb"): ("pl-02cd2c6b", ("52.94.0.0/22", "52.119.224.0/20",
                                                "3.218.182.0/24")),
    ("eu-west-1", "s3"): ("pl-6da54004", ("52.218.0.0/17", "3.5.64.0/21", "52.92.0.0/17")),
    ("eu-west-1", "dynamodb"): ("pl-6fa54006", ("52.94.24.0/23", "52.119.240.0/21")),
}

# Public addresses answering for interface-endpoint services when private DNS is off.
_PUBLIC_SERVICE_BASE = ipaddress.IPv4Network("52.46.0.0/18")
_INTERFACE_SERVICES = ("secretsmanager", "sqs", "sns", "kms", "ssm", "sts", "logs",
                       "ecr.api", "ecr.dkr", "lambda", "execute-api", "rds", "monitoring",
                       "events", "kinesis", "states")

# Lambda service VPC (L1): execution environments sit here, invisible to customers;
# functions without VPC configuration leave to the internet from this public range.
# Function i's k-th environment is LAMBDA_ENV_BASE + i * ENVS_PER_FUNCTION + k (k from 0),
# spread round-robin over the function's subnets; the range stays clear of 169.254.169.x.
LAMBDA_SERVICE_CIDR = ipaddress.IPv4Network("169.254.0.0/17")
LAMBDA_ENV_BASE = LAMBDA_SERVICE_CIDR.network_address + 1
ENVS_PER_FUNCTION = 1024
LAMBDA_PUBLIC_EGRESS = ipaddress.IPv4Network("3.208.0.0/24")


def gateway_prefix_list(region: str, service: str) -> PrefixList | None:
    entry = _GATEWAY_RANGES.get((region, service))
    if entry is None:
        return None
    pl_id, cidrs = entry
    return PrefixList(pl_id, f"com.amazonaws.{region}.{service}",
                      tuple(ipaddress.IPv4Network(c) for c in cidrs))


def service_short_name(service: str) -> str:
    """com.amazonaws.us-east-1.secretsmanager -> secretsmanager."""
    parts = service.split(".")
    return ".".join(parts[3:]) if len(parts) > 3 and parts[0] == "com" else service


def service_dns_name(region: str, short: str) -> str:
    return f"{short}.{region}.amazonaws.com"


def public_service_ip(region: str, short: str) -> ipaddress.IPv4Address:
    """A stable public address for an AWS service name (first address of a gateway range
    for S3/DynamoDB, else one slot of a fixed block)."""
    pl = gateway_prefix_list(region, short)
    if pl is not None:
        return pl.cidrs[0].network_address + 10
    index = (_INTERFACE_SERVICES.index(short) if short in _INTERFACE_SERVICES
             else sum(short.encode()) % 200 + len(_INTERFACE_SERVICES))
    return _PUBLIC_SERVICE_BASE.network_address + 256 * index + 10


def builtin_prefix_lists() -> dict[str, PrefixList]:
    lists = (gateway_prefix_list(r, s) for r, s in _GATEWAY_RANGES)
    return {pl.id: pl for pl in lists if pl is not None}


def aws_service_ranges() -> list[tuple[ipaddress.IPv4Network, str]]:
    """Every built-in public AWS range with the service it belongs to."""
    out = [(c, pl.name) for pl in builtin_prefix_lists().values() for c in pl.cidrs]
    out.append((_PUBLIC_SERVICE_BASE, "aws-public-endpoints"))
    return out
