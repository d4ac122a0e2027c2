from django.urls import path

from kontor.tenancy import views

app_name = "tenancy"
urlpatterns = [
    path("accounts/", views.AccountList.as_view(), name="accounts"),
    path("accounts/add/", views.account_add, name="account_add"),
    path("accounts/<int:pk>/", views.AccountDetail.as_view(), name="account_detail"),
    path("accounts/<int:pk>/edit/", views.account_edit, name="account_edit"),
    path("accounts/<int:pk>/delete/", views.AccountDelete.as_view(), name="account_delete"),
    path("accounts/<int:pk>/restore/", views.AccountRestore.as_view(), name="account_restore"),
    path("switch-account/", views.switch, name="switch"),
    path("offices/", views.offices, name="offices"),
    path("offices/add/", views.OfficeEdit.as_view(), name="office_add"),
    path("offices/<int:pk>/edit/", views.OfficeEdit.as_view(), name="office_edit"),
    path("offices/<int:pk>/delete/", views.OfficeDelete.as_view(), name="office_delete"),
    path("teams/add/", views.TeamEdit.as_view(), name="team_add"),
    path("teams/<int:pk>/edit/", views.TeamEdit.as_view(), name="team_edit"),
    path("teams/<int:pk>/delete/", views.TeamDelete.as_view(), name="team_delete"),
    path("security/", views.security, name="security"),
]
