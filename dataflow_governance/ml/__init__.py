"""Machine learning provenance: audited training datasets (snapshots, digests, membership
indexes), the MLflow model registry, and which data trained which model.
"""

# How every dataset digest and membership digest starts (kept here: reading dataset records needs
# it, and must not import the digest's numpy and pyarrow).
DIGEST_PREFIX = "sha256:"
