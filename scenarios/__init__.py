"""The shipped kernel scenarios (``*.scn``; format: docs/scenarios.md)."""
