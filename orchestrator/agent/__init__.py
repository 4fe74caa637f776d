"""The agent: the one program that supervises a training run, locally and on cloud instances.

It must start fast and depend on nothing heavy: standard library plus the store it is given.
"""
