"""Prices and billing arithmetic.

``catalog`` holds the sourced price catalog (instance hours, storage per GB-month) and its refresh from
AWS; ``billing`` is the pure arithmetic (per-second billing, storage proration, estimates). Nothing is
imported here so that ``import orchestrator.cost`` stays free.
"""
