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
    subnet: str | None = None        # a function's environment: the subnet it sends from


def resolve_source(topo: Topology, text: str) -> Endpoint:
    return _resolve(topo, text, None)


def resolve_sources(topo: Topology, text: str) -> list[Endpoint]:
    """Every place a source sends from: `lambda:NAME` is an environment in each of the
    function's subnets, since invocations land in any of them (L7); anything else
    (`lambda:NAME@SUBNET` included) is one place."""
    kind, _, name = text.partition(":")
    if name and kind == "lambda":
        return [_environment(topo, env, name.partition("@")[0], text)
                for env in _environments(topo, name, text)]
    return [resolve_source(topo, text)]


def resolve_destination(topo: Topology, text: str, src: Endpoint) -> Endpoint:
    return _resolve(topo, text, src)


def _resolve(topo: Topology, text: str, src: Endpoint | None) -> Endpoint:
    kind, _, name = text.partition(":")
    if name and kind == "lambda":
        return _function(topo, name, text, src)
    if name and kind == "eni":
        eni = topo.enis[_find(topo, "network interface", name, text)]
        sn = topo.subnets[eni.subnet]
        return Endpoint(text, eni.private_ip, f"ENI {topo.display(eni.id)}", sn.vpc, sn.az)
    if name and kind in ("instance", "host"):
        return _host(topo, topo.hosts[_find(topo, "instance", name, text, kind)], text)
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        return _dns(topo, text, src)
    gone = topo.unplaced_by_ip.get(ip)
    if gone is not None and not any(key[1] == ip for key in topo.eni_by_ip):
        raise InputError(f"{ip} is the address of {gone.kind} {topo.display(gone.id)}, which "
                         f"is unplaced: {gone.reason}", resource=text)
    vpc = topo.vpc_of_ip(ip)
    sn = topo.subnet_of_ip(vpc.id, ip) if vpc else None
    return Endpoint(text, ip, "address in " + (vpc.id if vpc else "the internet"),
                    vpc.id if vpc else None, sn.az if sn else None)


def _find(topo: Topology, kind: str, name: str, text: str, word: str = "") -> str:
    """The id of what `name` is, by id or unique Name tag; an unplaced one (its subnet
    was not collected) is refused with the reason, never traced as if it were nowhere."""
    rid = topo.find(kind, name)
    if rid is None:
        raise InputError(f"unknown {word or kind} {name!r}", resource=text)
    gone = topo.unplaced.get(rid)
    if gone is not None:
        raise InputError(f"{kind} {topo.display(rid)} is unplaced: {gone.reason}; netemu "
                         "cannot trace from or to it", resource=text)
    return rid


def _host(topo: Topology, host, text: str) -> Endpoint:
    if host.eni is None:
        return Endpoint(text, host.ip, f"{host.kind} host {topo.display(host.id)}", None)
    sn = topo.subnets[topo.enis[host.eni].subnet]
    return Endpoint(text, host.ip, f"{host.kind} {topo.display(host.id)}", sn.vpc, sn.az)


def _environments(topo: Topology, spec: str, text: str) -> list:
    """`NAME`: an environment in each of the function's subnets, in their order;
    `NAME@SUBNET`: the one in that subnet (and so AZ and Hyperplane ENI)."""
    name, _, subnet = spec.partition("@")
    fn = topo.functions[_find(topo, "Lambda function", name, text)]
    envs = topo.environments_of(name)
    if subnet:
        subnet = topo.find("subnet", subnet, among=fn.subnets) or subnet    # id or Name tag
        envs = [e for e in envs if e.subnet == subnet]
        if not envs:
            has = ", ".join(map(topo.display, fn.subnets)) or "no VPC configuration"
            raise InputError(f"function {name} has no subnet {subnet!r} (it has {has})",
                             resource=text)
    return envs


def _environment(topo: Topology, env, name: str, text: str) -> Endpoint:
    sn = topo.subnets[env.subnet] if env.subnet else None
    where = f"in {topo.display(env.subnet)}" if sn else "without VPC configuration"
    return Endpoint(text, env.ip, f"Lambda function {name} ({where})", sn.vpc if sn else None,
                    sn.az if sn else None, name, env.subnet)


def _function(topo: Topology, spec: str, text: str, src: Endpoint | None) -> Endpoint:
    """As a source, the environment in the function's first subnet (or in `@SUBNET`). As
    a destination, what a client could address: the Hyperplane ENI (in the client's AZ
    where there is one), which admits no connection into the function (L5)."""
    envs = _environments(topo, spec, text)
    name = spec.partition("@")[0]
    if src is None:
        return _environment(topo, envs[0], name, text)
    enis = [topo.enis[e.eni] for e in envs if e.eni]
    if not enis:
        return Endpoint(text, envs[0].ip, f"Lambda function {name} (accepts no inbound "
                        "connections: L5)", None, None, name)
    eni = next((e for e in enis if topo.subnets[e.subnet].az == src.az), enis[0])
    sn = topo.subnets[eni.subnet]
    return Endpoint(text, eni.private_ip, f"Lambda function {name} (its Hyperplane ENI "
                    f"{eni.id} accepts no inbound connections: L5)", sn.vpc, sn.az, name,
                    sn.id)


def _dns(topo: Topology, name: str, src: Endpoint | None) -> Endpoint:
    name = name.rstrip(".").lower()
    vpc = topo.vpcs.get(src.vpc) if src and src.vpc else None
    if vpc is not None and not vpc.custom_dns and not vpc.enable_dns_support:
        raise InputError(f"cannot resolve {name!r}: the VPC {vpc.id} has DNS resolution "
                         "(enableDnsSupport) off and no custom DNS servers (D1)", resource=name)
    private_view = vpc is not None and not vpc.custom_dns
    service = aws_services.parse_service_name(name)
    if private_view and vpc.enable_dns_hostnames:        # E2: the endpoint's private zone
        for ep in sorted(topo.endpoints.values(), key=lambda e: e.id):
            if ep.vpc == vpc.id and ep.kind == "interface" and ep.private_dns and ep.enis \
                    and (name in ep.dns_names or _endpoint_answers(ep, service)):
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
    if service is not None:       # the public answer; a gateway endpoint is reached by it
        where = "" if vpc is None or vpc.region == service.region else f" in {service.region}"
        return Endpoint(name, aws_services.public_service_ip(service.region, service.service),
                        f"public endpoint of AWS {service.service}{where}", None)
    why = (" (the VPC uses custom DNS servers, which cannot answer private names: D2)"
           if vpc is not None and vpc.custom_dns else
           f" from {src.text}, which is outside any VPC: only public names resolve there"
           if src is not None and vpc is None else
           ": not an AWS service name netemu knows, nor a name of the topology"
           if name.endswith(".amazonaws.com") else "")
    raise InputError(f"cannot resolve {name!r}{why}", resource=name)


def _endpoint_answers(ep, service) -> bool:
    """E2: an interface endpoint's private DNS answers its service's regional names."""
    if service is None or not service.endpoint_dns:
        return False
    parts = ep.service.split(".")
    return (len(parts) > 3 and parts[:2] == ["com", "amazonaws"] and parts[2] == service.region
            and aws_services.service_short_name(ep.service) == service.service)
