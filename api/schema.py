"""How the OpenAPI schema describes our token authentication (a drf-spectacular extension, loaded by ``ApiConfig.ready``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A per-user token (scr_...) created by your admin; send it as `Authorization: Bearer <token>`.",
        }
