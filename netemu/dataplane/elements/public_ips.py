"""Private IPv4 <-> public IPv4 (an ENI's public IP, a NAT gateway's Elastic IP): what
the internet gateway translates (I1) and the internet routes back to a VPC."""

from __future__ import annotations

import numpy as np


class PublicMap:
    """Private IPv4 <-> public IPv4 pairs of one VPC, looked up over whole batches."""

    def __init__(self, pairs: list[tuple[int, int, int]]) -> None:
        # (private, public, eni index)
        self.private = np.array([p[0] for p in pairs], dtype=np.uint32)
        self.public = np.array([p[1] for p in pairs], dtype=np.uint32)
        self.eni = np.array([p[2] for p in pairs], dtype=np.int64)

    @staticmethod
    def of(topo, book, vpc: str | None) -> PublicMap:
        """An ENI's public IPv4 and a NAT gateway's Elastic IP, in one VPC."""
        pairs = [(int(e.private_ip), int(e.public_ip), book.eni_index[e.id])
                 for e in topo.enis.values()
                 if e.public_ip is not None and topo.subnets[e.subnet].vpc == vpc]
        pairs += [(int(n.private_ip), int(n.elastic_ip), book.eni_index[n.eni])
                  for n in topo.nat_gateways.values()
                  if n.elastic_ip is not None and topo.subnets[n.subnet].vpc == vpc]
        return PublicMap(sorted(pairs))

    @staticmethod
    def _find(keys: np.ndarray, ips: np.ndarray) -> np.ndarray:
        if len(keys) == 0:
            return np.full(len(ips), -1)
        order = np.argsort(keys)
        pos = np.minimum(np.searchsorted(keys[order], ips), len(keys) - 1)
        return np.where(keys[order][pos] == ips, order[pos], -1)

    def by_private(self, ips: np.ndarray) -> np.ndarray:
        return self._find(self.private, ips)

    def by_public(self, ips: np.ndarray) -> np.ndarray:
        return self._find(self.public, ips)
