"""Names as supervisorctl reads them, routed to instances (DESIGN.md, "Commands").

Pure logic: what each instance holds comes in as data (pairs of group and
process name); nothing here talks to a supervisord or prints.
"""

from bootstrap.errors import EXIT_USAGE, BootstrapError

ALL = "all"
RUNNER_PROGRAM = "gitlab-runner"

# Which arguments of each verb are names, and of what kind: supervisorctl's
# update takes group names, the others take process specs.
PROCESS_VERBS = ("status", "start", "stop", "restart", "clear", "pid", "signal", "tail")
GROUP_VERBS = ("update",)


def split_namespec(spec):
    """Return (group, process) as supervisor reads spec; process is None for group:*."""
    if ":" in spec:
        group, process = spec.split(":", 1)
        return group, (None if process in ("", "*") else process)
    return spec, spec


def configured_pairs(site, instance):
    """Return the (group, process) pairs that instance's config defines."""
    table = site["instances"][instance]
    pairs = [(group, name) for group, members in table["groups"].items()
             for name in members]
    grouped = {name for _, name in pairs}
    pairs += [(name, name) for name in table["programs"] if name not in grouped]
    runner = site.get("runner")
    if runner and runner.get("supervised") and runner.get("instance") == instance:
        pairs.append((RUNNER_PROGRAM, RUNNER_PROGRAM))
    return pairs


def matches(spec, pairs, kind="process"):
    """Return True if supervisorctl would find spec among pairs."""
    if kind == "group":
        return any(group == spec for group, _ in pairs)
    group, process = split_namespec(spec)
    return any(g == group and (process is None or n == process) for g, n in pairs)


def targets(spec, inventories, kind="process"):
    """Return [(instance, spec as that instance must be told)] for one name.

    A name some instance knows goes to those instances unchanged; a bare program
    name inside a group becomes group:name where it is; a name nobody knows goes
    to every instance, so that each answers with supervisorctl's own error.
    """
    if spec == ALL:
        return [(inst, spec) for inst in inventories]
    native = [(inst, spec) for inst, pairs in inventories.items()
              if matches(spec, pairs, kind)]
    if native:
        return native
    if kind == "process" and ":" not in spec:
        found = _grouped(spec, inventories)
        if found:
            return found
    return [(inst, spec) for inst in inventories]


def _grouped(name, inventories):
    found = []
    for inst, pairs in inventories.items():
        groups = sorted({g for g, n in pairs if n == name})
        if len(groups) > 1:
            raise BootstrapError(
                f'program "{name}" is in groups {", ".join(groups)} of instance {inst}; '
                f"name one as GROUP:{name}", EXIT_USAGE)
        if groups:
            found.append((inst, f"{groups[0]}:{name}"))
    return found


def route(specs, inventories, kind="process"):
    """Return {instance: [specs]} for the instances that any of specs concerns."""
    routes = {inst: [] for inst in inventories}
    for spec in specs:
        for inst, told in targets(spec, inventories, kind):
            routes[inst].append(told)
    return {inst: told for inst, told in routes.items() if told}


def split_args(verb, args):
    """Return (before, names, after): the name arguments of verb's args and the rest.

    Follows supervisorctl's own reading: signal's first argument is the signal;
    tail takes an optional -N or -f, one name, then an optional channel.
    """
    args = list(args)
    if verb == "signal":
        return args[:1], args[1:], []
    if verb == "tail":
        before = args[:1] if args and args[0].startswith("-") else []
        rest = args[len(before):]
        return before, rest[:1], rest[1:]
    if verb in PROCESS_VERBS or verb in GROUP_VERBS:
        return [], args, []
    return args, [], []


def plan(verb, args, inventories):
    """Return {instance: arguments for supervisorctl's verb there}, in instance order.

    inventories maps every instance in play to the pairs it holds. Arguments
    without names (or none at all) go to every instance unchanged, so that
    supervisorctl itself judges them.
    """
    before, specs, after = split_args(verb, args)
    if not specs:
        return {inst: list(args) for inst in inventories}
    kind = "group" if verb in GROUP_VERBS else "process"
    routes = route(specs, inventories, kind)
    return {inst: before + told + after for inst, told in routes.items()}
