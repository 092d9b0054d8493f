from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Oncology calcium-disorder case registry"
admin.site.site_title = "Calcium case registry"
admin.site.index_title = "Curation"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
