"""The browser and script side: the admin API and the dashboard, and the guard in
front of both."""
