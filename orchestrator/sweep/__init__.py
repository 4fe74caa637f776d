"""`trainctl sweep`: one job per point of a parameter grid, at most N at once, resumable, with one summary.

``grid`` turns the options into validated points and the sweep's id; ``budget`` prices the sweep's
worst case and checks it against the policy before anything starts; ``run`` launches and follows the
jobs through the lifecycle services (`up --detach` per job); ``summary`` ranks them by an objective.
"""
