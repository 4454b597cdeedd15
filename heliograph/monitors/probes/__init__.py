"""Probe kinds: each module has ``async def probe(spec: ProbeSpec) -> Result``."""
