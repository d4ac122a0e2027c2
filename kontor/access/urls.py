from django.urls import path

from kontor.access import views_auth, views_roles, views_users

app_name = "access"
urlpatterns = [
    path("login/", views_auth.login_view, name="login"),
    path("logout/", views_auth.logout_view, name="logout"),
    path("welcome/<str:token>/", views_auth.welcome, name="welcome"),
    path("password/reset/", views_auth.password_reset, name="password_reset"),
    path("password/reset/<str:token>/", views_auth.password_reset_confirm, name="password_reset_confirm"),
    path("password/change/", views_auth.password_change, name="password_change"),
    path("profile/", views_auth.profile, name="profile"),
    path("users/", views_users.UserList.as_view(), name="users"),
    path("users/export.csv", views_users.UserList.as_view(export=True), name="users_export"),
    path("users/add/", views_users.UserAdd.as_view(), name="user_add"),
    path("users/<int:pk>/", views_users.UserDetail.as_view(), name="user_detail"),
    path("users/<int:pk>/edit/", views_users.UserEdit.as_view(), name="user_edit"),
    path("users/<int:pk>/disable/", views_users.user_set_active, {"active": False}, name="user_disable"),
    path("users/<int:pk>/enable/", views_users.user_set_active, {"active": True}, name="user_enable"),
    path("users/<int:pk>/resend-welcome/", views_users.UserResendWelcome.as_view(), name="user_resend_welcome"),
    path("users/<int:pk>/memberships/add/", views_users.membership_add, name="membership_add"),
    path("users/<int:pk>/memberships/<int:mpk>/role/", views_users.membership_role, name="membership_role"),
    path(
        "users/<int:pk>/memberships/<int:mpk>/remove/", views_users.MembershipRemove.as_view(), name="membership_remove"
    ),
    path("roles/", views_roles.RoleList.as_view(), name="roles"),
    path("roles/add/", views_roles.RoleAdd.as_view(), name="role_add"),
    path("roles/<int:pk>/edit/", views_roles.RoleEdit.as_view(), name="role_edit"),
    path("roles/<int:pk>/delete/", views_roles.RoleDelete.as_view(), name="role_delete"),
    path("api-keys/", views_roles.ApiKeyList.as_view(), name="api_keys"),
    path("api-keys/add/", views_roles.api_key_add, name="api_key_add"),
    path("api-keys/<int:pk>/revoke/", views_roles.ApiKeyRevoke.as_view(), name="api_key_revoke"),
]
