from django.urls import path

from kontor.contacts import views, views_import

app_name = "contacts"
urlpatterns = [
    path("", views.phonebooks, name="phonebooks"),
    path("add/", views.phonebook_add, name="phonebook_add"),
    path("<int:pk>/", views.phonebook_detail, name="phonebook_detail"),
    path("<int:pk>/edit/", views.phonebook_edit, name="phonebook_edit"),
    path("<int:pk>/delete/", views.phonebook_delete, name="phonebook_delete"),
    path("<int:pk>/export.csv", views.phonebook_export, name="phonebook_export"),
    path("<int:pk>/bulk/", views.phonebook_bulk, name="phonebook_bulk"),
    path("<int:pk>/import/", views_import.phonebook_import, name="phonebook_import"),
    path("<int:pk>/contacts/add/", views.phonebook_contact_add, name="phonebook_contact_add"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact_delete"),
    path("opt-outs/", views.opt_outs, name="opt_outs"),
    path("opt-outs/add/", views.opt_out_add, name="opt_out_add"),
    path("opt-outs/<int:pk>/remove/", views.opt_out_remove, name="opt_out_remove"),
]
