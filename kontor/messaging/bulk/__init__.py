"""Bulk writing of outbound messages: the COPY/INSERT of messages and their first events (insert), and
the two writers on top of it: the group commit of single sends (groupcommit) and the campaign fan-out
(fanout)."""
