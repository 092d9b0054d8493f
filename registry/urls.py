from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.dashboard import dashboard
from api.exports import codebook_page

from . import views

admin.site.site_header = "Oncology calcium-disorder case registry"
admin.site.site_title = "Calcium case registry"
admin.site.index_title = "Curation"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("dashboard/", dashboard, name="dashboard"),
    path("codebook/", codebook_page, name="codebook"),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

handler400 = views.bad_request
handler404 = views.not_found
handler500 = views.server_error
