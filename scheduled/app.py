"""Scheduled jobs of the Boston PB platform: a switchboard.

One function, the phase clock, runs every minute. It closes each phase whose
end has passed and opens the next; when voting closes it tallies and
publishes. This app's role may read every ballot; the API's may not.
"""

from chalice import Chalice, Rate

from chalicelib.jobs import run_phase_clock

app = Chalice(app_name="pb-scheduled")


@app.schedule(Rate(1, unit=Rate.MINUTES), name="phase-clock")
def close_due_phases(event):
    return run_phase_clock(event.to_dict())
