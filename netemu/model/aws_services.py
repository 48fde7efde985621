"""AWS public service address ranges and names, as the emulator's built-in internet.

Real ranges come from ip-ranges.json and change often; netemu ships a small fixed excerpt
so that results are deterministic. A topology can add or override prefix lists."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

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

# Public addresses answering for services without a built-in range here (interface-endpoint
# services, and S3/DynamoDB in Regions without one): one /24 per service, one address per
# Region in it. Only services in this list resolve; the order fixes the addresses.
_PUBLIC_SERVICE_BASE = ipaddress.IPv4Network("52.46.0.0/18")
_INTERFACE_SERVICES = ("secretsmanager", "sqs", "sns", "kms", "ssm", "sts", "logs",
                       "ecr.api", "ecr.dkr", "lambda", "execute-api", "rds", "monitoring",
                       "events", "kinesis", "states", "s3", "dynamodb", "ssmmessages",
                       "ec2messages", "ec2", "elasticloadbalancing", "autoscaling",
                       "cloudformation", "kinesis-firehose", "glue", "athena", "xray",
                       "ecs", "ecs-agent", "ecs-telemetry", "eks", "rds-data",
                       "elasticfilesystem", "sagemaker.api", "sagemaker.runtime",
                       "codebuild", "codecommit", "git-codecommit", "cloudtrail", "config",
                       "bedrock", "bedrock-runtime", "elasticache", "redshift-data",
                       "email-smtp", "acm-pca", "appconfig", "textract", "ebs")
# where an endpoint service's DNS name differs from its short name
_DNS_HOST = {"ecr.api": "api.ecr", "ecr.dkr": "dkr.ecr", "kinesis-firehose": "firehose",
             "sagemaker.api": "api.sagemaker", "sagemaker.runtime": "runtime.sagemaker"}
_SERVICE_OF_HOST = {_DNS_HOST.get(s, s): s for s in _INTERFACE_SERVICES}
# names below these take a prefix of their own: BUCKET.s3..., API-ID.execute-api...,
# ACCOUNT.dkr.ecr...
_PREFIXED = ("s3", "execute-api", "ecr.dkr")
# global names, answered by us-east-1 and never by an interface endpoint's private DNS
_GLOBAL = {"s3": "s3", "sts": "sts"}
REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
           "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
           "eu-south-2", "ap-south-1", "ap-south-2", "ap-east-1", "ap-southeast-1",
           "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
           "ap-southeast-7", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
           "ca-central-1", "ca-west-1", "sa-east-1", "af-south-1", "me-south-1",
           "me-central-1", "il-central-1", "mx-central-1", "us-gov-east-1", "us-gov-west-1")

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
    """The regional DNS name of an endpoint service (`api.ecr.us-east-1.amazonaws.com`)."""
    return f"{_DNS_HOST.get(short, short)}.{region}.amazonaws.com"


@dataclass(frozen=True)
class ServiceName:
    """What an AWS service name asks for: `BUCKET.s3.eu-west-1.amazonaws.com` is S3 in
    eu-west-1. An interface endpoint's private DNS (E2) answers the regional names only,
    not the global `s3.amazonaws.com`, `sts.amazonaws.com` (us-east-1) nor the legacy
    `s3-REGION` ones."""
    service: str                   # the endpoint service's short name: s3, sts, ecr.api
    region: str
    endpoint_dns: bool = True      # an interface endpoint's private DNS answers it


def parse_service_name(name: str) -> ServiceName | None:
    """The AWS service a DNS name names, as the public DNS answers it; None if not one."""
    name = name.rstrip(".").lower()
    if not name.endswith(".amazonaws.com"):
        return None
    labels = name[:-len(".amazonaws.com")].split(".")
    if not all(labels):
        return None
    last = labels[-1]
    if last in _GLOBAL and (len(labels) == 1 or last == "s3"):
        return ServiceName(_GLOBAL[last], "us-east-1", endpoint_dns=False)
    if last == "s3-external-1":
        return ServiceName("s3", "us-east-1", endpoint_dns=False)
    if last.startswith("s3-") and last[3:] in REGIONS:
        return ServiceName("s3", last[3:], endpoint_dns=False)   # legacy s3-REGION
    if last not in REGIONS or len(labels) < 2:
        return None
    host = labels[:-1]
    for k in range(len(host), 0, -1):               # the longest service suffix
        service = _SERVICE_OF_HOST.get(".".join(host[-k:]))
        if service is not None and (k == len(host) or service in _PREFIXED):
            return ServiceName(service, last)
    return None


def public_service_ip(region: str, short: str) -> ipaddress.IPv4Address:
    """A stable public address for an AWS service in a Region (in the gateway range for
    S3/DynamoDB where netemu has one, else one slot of a fixed block)."""
    pl = gateway_prefix_list(region, short)
    if pl is not None:
        return pl.cidrs[0].network_address + 10
    index = _INTERFACE_SERVICES.index(short)
    return _PUBLIC_SERVICE_BASE.network_address + 256 * index + 10 + REGIONS.index(region)


def builtin_prefix_lists() -> dict[str, PrefixList]:
    lists = (gateway_prefix_list(r, s) for r, s in _GATEWAY_RANGES)
    return {pl.id: pl for pl in lists if pl is not None}


def aws_service_ranges() -> list[tuple[ipaddress.IPv4Network, str]]:
    """Every built-in public AWS range with the service it belongs to."""
    out = [(c, pl.name) for pl in builtin_prefix_lists().values() for c in pl.cidrs]
    out.append((_PUBLIC_SERVICE_BASE, "aws-public-endpoints"))
    return out
