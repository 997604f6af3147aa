"""Where data lives, and how the project reaches it: the warehouse facade and its engines, the
S3 object store, records inside objects, Delta tables, reclaiming erased bytes, locks,
declared places confirmed live, and safe file I/O.
"""
