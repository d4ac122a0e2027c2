"""Kontor: the back office of an SMS and telecom service provider."""
