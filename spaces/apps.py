from django.apps import AppConfig
from django.db.models.signals import pre_save


class SpacesConfig(AppConfig):
    name = "spaces"
    verbose_name = "Spaces (Cobot)"

    def ready(self):
        # Here, not at the top: these modules import models, which exist only once the registry is ready.
        from allauth.account import signals as account_signals
        from allauth.socialaccount import signals as socialaccount_signals
        from allauth.socialaccount.models import SocialToken

        from accessbridge.work import work_performer_register
        from spaces.admins import (
            admin_roles_after_sign_in,
            admin_roles_grant_after_sign_in,
            cobot_identity_link,
        )
        from spaces.cobot.accounts import cobot_sign_in_received, socialtoken_encrypt
        from spaces.inbound import delivery_handler_register, delivery_process
        from spaces.mirror import cobot_delivery_process
        from spaces.models import InboundDelivery

        work_performer_register(InboundDelivery, lambda delivery: delivery_process(delivery=delivery))
        delivery_handler_register("cobot", cobot_delivery_process)
        pre_save.connect(socialtoken_encrypt, sender=SocialToken, dispatch_uid="spaces_socialtoken_encrypt")
        # social_account_updated comes before allauth stores an existing account's new token,
        # pre_social_login before it stores a new account's (and is too late for an existing one).
        for signal in ("social_account_updated", "social_account_added", "pre_social_login"):
            getattr(socialaccount_signals, signal).connect(
                cobot_sign_in_received, dispatch_uid=f"spaces_cobot_sign_in_{signal}"
            )
            getattr(socialaccount_signals, signal).connect(
                admin_roles_after_sign_in, dispatch_uid=f"spaces_admin_roles_after_sign_in_{signal}"
            )
        # After the two above: the token is dropped for a member first, stale roles pruned.
        socialaccount_signals.pre_social_login.connect(
            cobot_identity_link, dispatch_uid="spaces_cobot_identity_link"
        )
        account_signals.user_logged_in.connect(
            admin_roles_grant_after_sign_in, dispatch_uid="spaces_admin_grant_login"
        )
        socialaccount_signals.social_account_added.connect(
            admin_roles_grant_after_sign_in, dispatch_uid="spaces_admin_grant_added"
        )
