"""The embedded services a project starts by itself: the local S3 endpoint and the local Spark
Connect server.
"""
