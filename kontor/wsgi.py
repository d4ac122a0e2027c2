import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kontor.settings")

from kontor.messaging.api.fastlane import FastLane

application = FastLane(get_wsgi_application())
