"""The web dashboard: a quart-trio app under ``/ui`` beside the Kubernetes API.

It reads the store as the API does, writes through the engine (same lifecycle rules,
same messages) and asks the API's own Authenticator and Authorizer who the user is and
what they may do, so a user sees and may do in the browser exactly what kubectl lets them.
"""

from porch_embedded.dashboard._app import Dashboard, DashboardSettings, mount
from porch_embedded.dashboard._services import Services as DashboardServices

__all__ = ["Dashboard", "DashboardServices", "DashboardSettings", "mount"]
