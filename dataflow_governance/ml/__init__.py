"""Machine learning provenance: audited training datasets (snapshots, digests, membership
indexes), the MLflow model registry, and which data trained which model.
"""
