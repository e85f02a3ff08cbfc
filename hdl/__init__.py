"""Amaranth hardware of the Shootdown MMU: descriptor layouts, TLB, walker, MMU top."""
