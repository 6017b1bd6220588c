from django.apps import AppConfig
from django.db.models.signals import pre_save


class SpacesConfig(AppConfig):
    name = "spaces"
    verbose_name = "Spaces (Cobot)"

    def ready(self):
        from allauth.socialaccount.models import SocialToken

        from spaces.cobot.accounts import socialtoken_encrypt
        from spaces.inbound import delivery_handler_register
        from spaces.mirror import cobot_delivery_process

        delivery_handler_register("cobot", cobot_delivery_process)
        pre_save.connect(socialtoken_encrypt, sender=SocialToken, dispatch_uid="spaces_socialtoken_encrypt")
