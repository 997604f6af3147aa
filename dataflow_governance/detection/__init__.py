"""Finding personal data in what is stored: detectors (patterns and validators), scans of
tables, files and S3 prefixes, the Great Expectations expectation, and residency checks.
"""
