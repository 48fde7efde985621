"""Reachability: every packet a source gets delivered with its replies back, found by
walking the element tables (dataplane/table.py) symbolically over sets of packets."""
