"""supervisorctl's status lines and its stopped states, for every status we print.

Small and free of imports: the quick status (quick.py) loads it on every call.
"""

# supervisor.states.STOPPED_STATES, by name: any of these makes status exit 3.
STOPPED_STATE_NAMES = ("STOPPED", "EXITED", "FATAL", "UNKNOWN")


def format_status_lines(infos):
    """Return supervisorctl's status lines for infos, in its own layout."""
    specs = [f"{i['group']}:{i['name']}" if i["group"] != i["name"] else i["name"]
             for i in infos]
    width = max([30] + [len(s) for s in specs]) + 3
    return [f"{spec:<{width}}{info['statename']:<10}{info['description']}"
            for spec, info in zip(specs, infos)]
