"""Labeling with Label Studio: config, server, client, conversion, consensus, throughput."""
