"""Forms of the messaging pages, one module per topic: they collect input; the services validate,
price and decide."""
