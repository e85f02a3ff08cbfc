"""The kernel side of the golden model: mm, page tables, flush policies, the safety
checker, and the scenarios that drive them (``docs/scenarios.md``)."""
