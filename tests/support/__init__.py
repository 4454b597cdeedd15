"""Helpers shared by the test modules: servers, processes, the fixture world."""
