"""The messaging pages, one module per topic; kontor/messaging/urls.py names them."""
