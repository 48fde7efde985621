"""Turning what a person types (`lambda:orders`, `eni:eni-0abc`, `instance:i-0abc`, an IP
address, a DNS name) into a source or destination address, the way the VPC resolver would
answer the source (D1-D3, E2)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netemu.errors import InputError
from netemu.model import aws_services
from netemu.model.topology import Topology


@dataclass(frozen=True)
class Endpoint:
    text: str                        # as given
    ip: ipaddress.IPv4Address
    label: str                       # what it is, for people
    vpc: str | None                  # the VPC it sits in, None outside
    az: str | None = None
    function: str | None = None


def resolve_source(topo: Topology, text: str) -> Endpoint:
    return _resolve(topo, text, None)


def resolve_destination(topo: Topology, text: str, src: Endpoint) -> Endpoint:
    return _resolve(topo, text, src)


def _resolve(topo: Topology, text: str, src: Endpoint | None) -> Endpoint:
    kind, _, name = text.partition(":")
    if name and kind == "lambda":
        return _function(topo, name, text, src)
    if name and kind == "eni":
        if name not in topo.enis:
            raise InputError(f"unknown network interface {name!r}", resource=text)
        eni = topo.enis[name]
        sn = topo.subnets[eni.subnet]
        return Endpoint(text, eni.private_ip, f"ENI {name}", sn.vpc, sn.az)
    if name and kind in ("instance", "host"):
        host = topo.hosts.get(name)
        if host is None:
            raise InputError(f"unknown {kind} {name!r}", resource=text)
        return _host(topo, host, text)
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        return _dns(topo, text, src)
    vpc = topo.vpc_of_ip(ip)
    sn = topo.subnet_of_ip(vpc.id, ip) if vpc else None
    return Endpoint(text, ip, "address in " + (vpc.id if vpc else "the internet"),
                    vpc.id if vpc else None, sn.az if sn else None)


def _host(topo: Topology, host, text: str) -> Endpoint:
    if host.eni is None:
        return Endpoint(text, host.ip, f"{host.kind} host {host.id}", None)
    sn = topo.subnets[topo.enis[host.eni].subnet]
    return Endpoint(text, host.ip, f"{host.kind} {host.id}", sn.vpc, sn.az)


def _function(topo: Topology, spec: str, text: str, src: Endpoint | None) -> Endpoint:
    """`lambda:NAME` is the environment in the function's first subnet;
    `lambda:NAME@SUBNET` picks the subnet (and so the AZ and Hyperplane ENI)."""
    name, _, subnet = spec.partition("@")
    fn = topo.functions.get(name)
    if fn is None:
        raise InputError(f"unknown Lambda function {name!r}", resource=text)
    envs = topo.environments_of(name)
    if subnet:
        envs = [e for e in envs if e.subnet == subnet]
        if not envs:
            raise InputError(f"function {name} has no subnet {subnet!r} "
                             f"(it has {', '.join(fn.subnets) or 'no VPC configuration'})",
                             resource=text)
    env = envs[0]
    vpc = topo.subnets[env.subnet].vpc if env.subnet else None
    az = topo.subnets[env.subnet].az if env.subnet else None
    where = f"in {env.subnet}" if env.subnet else "without VPC configuration"
    return Endpoint(text, env.ip, f"Lambda function {name} ({where})", vpc, az, name)


def _dns(topo: Topology, name: str, src: Endpoint | None) -> Endpoint:
    name = name.rstrip(".").lower()
    vpc = topo.vpcs.get(src.vpc) if src and src.vpc else None
    if vpc is not None and not vpc.custom_dns and not vpc.enable_dns_support:
        raise InputError(f"cannot resolve {name!r}: the VPC {vpc.id} has DNS resolution "
                         "(enableDnsSupport) off and no custom DNS servers (D1)", resource=name)
    private_view = vpc is not None and not vpc.custom_dns
    if private_view:
        for ep in sorted(topo.endpoints.values(), key=lambda e: e.id):   # E2
            if (ep.vpc == vpc.id and ep.private_dns and name in ep.dns_names
                    and vpc.enable_dns_hostnames):
                enis = [topo.enis[e] for e in ep.enis]
                same_az = [e for e in enis if topo.subnets[e.subnet].az == src.az]
                eni = (same_az or enis)[0]
                return Endpoint(name, eni.private_ip, f"interface endpoint {ep.id} "
                                f"(private DNS, {eni.id})", vpc.id,
                                topo.subnets[eni.subnet].az)
    for host in sorted(topo.hosts.values(), key=lambda h: h.id):
        if name not in host.dns:
            continue
        if host.kind == "internet":
            return Endpoint(name, host.ip, f"internet host {host.id}", None)
        ep = _host(topo, host, name)
        # D3: RDS names resolve to the private IP; other private names only inside the VPC
        # through the Amazon resolver (D2: custom DNS servers cannot answer them).
        if host.kind == "rds" or (private_view and ep.vpc == vpc.id):
            return ep
    short = name.split(".")[0]
    if name.endswith(".amazonaws.com") and name == aws_services.service_dns_name(
            vpc.region if vpc else "us-east-1", short):
        region = name.split(".")[1]
        return Endpoint(name, aws_services.public_service_ip(region, short),
                        f"public endpoint of AWS {short}", None)
    why = (" (the VPC uses custom DNS servers, which cannot answer private names: D2)"
           if vpc is not None and vpc.custom_dns else
           f" from {src.text}, which is outside any VPC: only public names resolve there"
           if src is not None and vpc is None else "")
    raise InputError(f"cannot resolve {name!r}{why}", resource=name)
