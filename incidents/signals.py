"""Hook points for other parts (metrics), so they need not be called from here.

``incident_changed`` is sent after commit, once per new incident event, with keyword
arguments ``incident_id`` (int) and ``event`` ("opened", "resolved" or "acknowledged").
A redelivered evaluation that re-sends notifications does not send it again, so a counter
connected to it counts each event once. The number of open incidents is
``incidents.selectors.count_open_incidents()`` (for a gauge read at scrape time).
"""

from django.dispatch import Signal

incident_changed = Signal()
