"""The use cases of messaging, one module per topic: each write is one transaction, audited where a
person changes something."""
