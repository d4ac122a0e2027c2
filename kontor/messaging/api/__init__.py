"""The messaging API, one router per topic; kontor/api/urls.py mounts them."""
