"""The self-check's report as text: a table per module (id, status, seconds, message, hint) that can be printed one
check at a time as the checks finish, what an interrupted run did not run, and the summary line."""
import textwrap

COLOURS = {"pass": "32", "fail": "31", "error": "31", "not implemented": "33", "timeout": "35", "info": "36",
           "missing": "2"}

_STATUS_WIDTH = 15


class TablePrinter:
    """The table's lines, one check at a time in the report's order: a module's header comes before its first check,
    and a module whose checks are all missing for one reason is one line ("all 35 checks missing: ...").

    Parameters
    ----------
    id_width : int
        Width of the id column: the longest id of the checks that will come.
    width : int
        Terminal width the messages are wrapped to.
    colour : bool
        Colour the statuses with ANSI escapes.
    """

    def __init__(self, id_width, width=100, colour=False):
        self.id_width = id_width
        self.colour = colour
        self.indent = id_width + 2 + _STATUS_WIDTH + 2 + 8 + 2
        self.wrap = textwrap.TextWrapper(width=max(width - self.indent, 40), break_long_words=True,
                                         break_on_hyphens=False)
        self.module = None
        self.held = []  # the module's checks so far while all are missing with one message: maybe one line

    def add(self, entry):
        """The lines to print for the next check's `entry` (a report's entry), possibly none yet."""
        lines = []
        if entry["module"] != self.module:
            lines += self.end()
            self.module = entry["module"]
            lines += ["", f"{self.module}.py"]
            if entry["status"] == "missing":
                self.held.append(entry)
                return lines
        elif self.held and (entry["status"], entry["message"]) == ("missing", self.held[0]["message"]):
            self.held.append(entry)
            return lines
        held, self.held = self.held, []
        return lines + [line for earlier in held + [entry] for line in self._lines(earlier)]

    def end(self):
        """The lines of the checks held back, at the end of a module or of the table."""
        held, self.held = self.held, []
        if len(held) > 1:
            return [f"all {len(held)} checks missing: {held[0]['message']}"]
        return [line for entry in held for line in self._lines(entry)]

    def _lines(self, entry):
        status = entry["status"].ljust(_STATUS_WIDTH)
        if self.colour:
            status = f"\033[{COLOURS[entry['status']]}m{status}\033[0m"
        message = self.wrap.wrap(entry["message"]) or [""]
        lines = [f"{entry['id'].ljust(self.id_width)}  {status}  {entry['seconds']:6.2f} s  {message[0]}".rstrip()]
        lines += [" " * self.indent + rest for rest in message[1:]]
        if entry["hint"]:
            lines += [" " * self.indent + text for text in self.wrap.wrap(f"hint: {entry['hint']}")]
        return lines


def id_width(ids):
    """The id column's width for the check ids `ids`."""
    return max((len(check_id) for check_id in ids), default=10)


def format_report(report, seconds=None, width=100, colour=False):
    """The report as text: a table per module (id, status, seconds, message), hints, the checks an interrupted run
    did not run, then the summary line.

    Parameters
    ----------
    report : dict
        What `check_solution.run` returns, or an interrupted run's partial report.
    seconds : float or None
        Total run time for the summary line.
    width : int
        Terminal width the messages are wrapped to.
    colour : bool
        Colour the statuses with ANSI escapes.
    """
    printer = TablePrinter(id_width(entry["id"] for entry in report["checks"]), width, colour)
    lines = [f"Checked {report['path']}"]
    for entry in report["checks"]:
        lines += printer.add(entry)
    return "\n".join(lines + printer.end() + ending(report, seconds, width))


def ending(report, seconds=None, width=100):
    """The lines after the table: the checks an interrupted run did not run, and the summary line."""
    lines = []
    if report.get("incomplete"):
        not_run = report["not_run"]
        lines += [""] + textwrap.wrap(f"interrupted (Ctrl-C): {len(not_run)} checks not run: {', '.join(not_run)}",
                                      width=max(width, 40), break_on_hyphens=False)
    return lines + ["", summary_line(report, seconds)]


def summary_line(report, seconds=None):
    """"N passed, N failed, N errors, N not implemented, N timed out, N info, N missing in T s", with "N not run"
    and "(interrupted)" for an interrupted run."""
    counts = report["summary"]
    text = (f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
            f"{counts['not implemented']} not implemented, {counts['timeout']} timed out, {counts['info']} info, "
            f"{counts['missing']} missing")
    if report.get("incomplete"):
        text += f", {len(report['not_run'])} not run"
    text = text if seconds is None else f"{text} in {seconds:.1f} s"
    return f"{text} (interrupted)" if report.get("incomplete") else text
