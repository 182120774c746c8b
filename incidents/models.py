# Incidents, active alerts, technician tasks and the notification outbox arrive
# with their issues (docs/roadmap.md).
