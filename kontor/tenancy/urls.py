from django.urls import path

from kontor.tenancy import views

app_name = "tenancy"
urlpatterns = [
    path("accounts/", views.accounts, name="accounts"),
    path("accounts/add/", views.account_add, name="account_add"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("accounts/<int:pk>/edit/", views.account_edit, name="account_edit"),
    path("accounts/<int:pk>/delete/", views.account_delete, name="account_delete"),
    path("accounts/<int:pk>/restore/", views.account_restore, name="account_restore"),
    path("switch-account/", views.switch, name="switch"),
    path("offices/", views.offices, name="offices"),
    path("offices/add/", views.office_edit, name="office_add"),
    path("offices/<int:pk>/edit/", views.office_edit, name="office_edit"),
    path("offices/<int:pk>/delete/", views.office_delete, name="office_delete"),
    path("teams/add/", views.team_edit, name="team_add"),
    path("teams/<int:pk>/edit/", views.team_edit, name="team_edit"),
    path("teams/<int:pk>/delete/", views.team_delete, name="team_delete"),
    path("security/", views.security, name="security"),
]
