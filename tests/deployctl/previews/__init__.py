"""Recorded engine previews (made by record.py with the real Pulumi engine) and their golden summaries."""
