from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from accounts.throttling import count_failed_login

        # Every login door (API, admin, dashboard) authenticates through authenticate().
        user_login_failed.connect(count_failed_login, dispatch_uid="accounts-count-failed-login")
