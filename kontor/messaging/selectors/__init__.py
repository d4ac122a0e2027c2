"""Reads of messaging that pages and API share, one module per topic."""
