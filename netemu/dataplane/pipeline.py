"""The dataplane: a graph of elements built once from a Topology (graph.py) and the
functions that push batches through it (run.py). The graph is fixed for the life of
the dataplane, while connection tracking and NAT state carry over from batch to batch
(the trace's clock)."""

from __future__ import annotations

import numpy as np

from netemu.dataplane import run as _run
from netemu.dataplane.elements.base import Runtime
from netemu.dataplane.graph import Graph
from netemu.dataplane.run import FATE_COLUMNS, MAX_HOPS
from netemu.dataplane.settings import Settings
from netemu.model.topology import Topology

__all__ = ["FATE_COLUMNS", "MAX_HOPS", "Dataplane", "Settings"]


class Dataplane:
    """A graph and the run functions over it, with the graph's names at hand."""

    def __init__(self, topo: Topology, settings: Settings | None = None) -> None:
        g = self.graph = Graph(topo, settings)
        self.topo, self.settings = topo, g.settings
        self.elements, self.slots, self.points = g.elements, g.slots, g.points
        self.reply_from, self.service_addresses = g.reply_from, g.service_addresses
        book, doors = g.book, g.doors
        self.vpc_ids, self.subnet_ids, self.eni_ids = book.vpc_ids, book.subnet_ids, book.eni_ids
        self.vpc_index, self.subnet_index = book.vpc_index, book.subnet_index
        self.eni_index, self.eni_subnet = book.eni_index, book.eni_subnet
        self.eni_at, self.eni_anywhere = book.eni_at, book.eni_anywhere
        self.eni_in, self.eni_out = doors.eni_in, doors.eni_out
        self.acl_in, self.acl_out = doors.acl_in, doors.acl_out
        self.owner_of_eni, self.elem_subnet = doors.owner_of_eni, doors.elem_subnet
        self.eni_of_element = doors.eni_of_element

    @property
    def quiet(self) -> float:
        return _run.quiet(self.graph)

    def place(self, b: np.ndarray) -> None:
        _run.place(self.graph, b)

    def run(self, b: np.ndarray, *, recording: bool = False, observing: bool = False,
            weights: np.ndarray | None = None) -> Runtime:
        return _run.run(self.graph, b, recording=recording, observing=observing,
                        weights=weights)

    def run_flows(self, b: np.ndarray, *, observing: bool = False,
                  horizon: float | None = None, summed_window: float | None = None
                  ) -> Runtime:
        return _run.run_flows(self.graph, b, observing=observing, horizon=horizon,
                              summed_window=summed_window)

    def hold(self, horizon: float) -> None:
        _run.hold(self.graph, horizon)

    def replies(self, b: np.ndarray, delivered: np.ndarray) -> np.ndarray:
        return _run.replies(self.graph, b, delivered)
