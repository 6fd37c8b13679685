"""What grading a class writes and prints: grades.csv, feedback/STUDENT.md, report.json, summary.txt, and the class
summary (the score distribution as a text histogram, the checks failed most often with their hint keys).

The folder is written as a whole: into a hidden staging folder beside DIR, published by a rename once complete
(atomic.staging_folder, atomic.publish), so that an interrupted run leaves nothing and no earlier DIR is replaced
unless --overwrite.
"""
import collections
import csv
import io
import json
import os
import platform

import numpy as np

from atomic import check_out as check_out_folder
from atomic import publish, staging_folder
from selfcheck import points as points_module
from selfcheck.base import STATUSES
from selfcheck.runner import checker_version

#: The names grading writes into DIR.
OUTPUT_FILES = ("grades.csv", "report.json", "summary.txt", "feedback")

#: Statuses of a check that a student got wrong (not implemented and missing are work not done, not a bug to teach).
_WRONG = ("fail", "error", "timeout")

_HISTOGRAM_BINS = 10
_MOST_FAILED = 10


def check_out(out, overwrite):
    """Refuse `out` before anything runs: a file, or a folder that is not empty (unless `overwrite` and it holds
    only an earlier gradebook)."""
    check_out_folder(out, overwrite, OUTPUT_FILES, writer="check_solution.py --grade")


def class_report(records, table, facts):
    """report.json's content: the facts of the run, the points and their rule, every student's record.

    Parameters
    ----------
    records : list of dict
        grading.grade_one's records, one per student.
    table : dict
        check id -> points of the checks run.
    facts : dict
        What ran: submissions, started_at, seconds, jobs, timeout, only, points_file, ignored.
    """
    return dict(facts, checker_version=checker_version(), numpy_version=np.__version__,
                python_version=platform.python_version(), rule=points_module.RULE, points=table,
                max_score=round(sum(round(value * 100) for value in table.values()) / 100, 2),
                students=sorted(records, key=lambda record: record["student"]))


def write(report, out, overwrite):
    """Write the gradebook of `report` to the folder `out` in one step; return the folder it went to (out-2, ...
    when another run took `out` meanwhile)."""
    with staging_folder(out) as staging:
        os.mkdir(os.path.join(staging, "feedback"))
        for record in report["students"]:
            _write_text(os.path.join(staging, "feedback", f"{record['student']}.md"), feedback(record, report))
        _write_text(os.path.join(staging, "grades.csv"), grades_csv(report))
        _write_text(os.path.join(staging, "report.json"), json.dumps(report, indent=1))
        _write_text(os.path.join(staging, "summary.txt"), summary(report, out))
        return publish(staging, out, overwrite)


def _write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.write(text)


def _modules(report):
    """The modules graded, in the order of the checks."""
    return list(dict.fromkeys(entry["module"] for record in report["students"] if record["graded"]
                              for entry in record["checks"]))


def grades_csv(report):
    """grades.csv: student, score, max_score, a subtotal per module, the count of each status, seconds, found_in,
    notes; one row per student, by id (the score empty for one that could not be graded)."""
    modules = _modules(report)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", *modules, *STATUSES, "seconds", "found_in", "notes"])
    for record in report["students"]:
        if not record["graded"]:
            writer.writerow([record["student"], "", report["max_score"], *[""] * (len(modules) + len(STATUSES)),
                             record["seconds"], "", record["message"]])
            continue
        subtotals = [record["modules"].get(module, {}).get("score", 0) for module in modules]
        writer.writerow([record["student"], record["score"], record["max_score"], *subtotals,
                         *(record["summary"][status] for status in STATUSES), record["seconds"],
                         record["found_in"] or "", "; ".join(record["notes"])])
    return text.getvalue()


def feedback(record, report):
    """feedback/STUDENT.md: the score, per module, and each check not passed with its message and hint, in the order
    to fix them (the report's: layers before the model they make, a module's simple checks first); a module whose
    checks all fail for one reason is one item."""
    lines = [f"# Feedback for {record['student']}", ""]
    if not record["graded"]:
        return "\n".join(lines + [f"Not graded: {record['message']}", ""])
    lines += [f"**{points_module.score_line(record)}**", ""]
    where = record["found_in"]
    lines += [f"Modules found in `{where}/` of your submission." if where not in (None, ".") else
              "Modules found at the top of your submission." if where else "No module found in your submission."]
    lines += [f"Note: {note}." for note in record["notes"]]
    lines += ["", f"Checked with check_solution.py {report['checker_version']} (numpy {report['numpy_version']}); "
                  f"run `python check_solution.py YOUR_FOLDER` to see the same checks. Points: {points_module.RULE}.",
              ""]
    items = _to_fix(record["checks"])
    if not items:
        return "\n".join(lines + ["Every check passed.", ""])
    lines += ["## To fix, in this order", ""]
    for number, (entries, first) in enumerate(items, 1):
        lost = sum(round(entry["points"] * 100) for entry in entries) / 100
        name = f"`{first['id']}`" if len(entries) == 1 else \
            f"all {len(entries)} checks from `{first['id']}` to `{entries[-1]['id']}`"
        lines.append(f"{number}. {first['module']}.py, {name}: **{first['status']}** "
                     f"({points_module.format_points(lost)} points). {first['message']}".rstrip())
        if first["hint"]:
            lines.append(f"   Hint: {first['hint']}")
    passed = sum(entry["status"] in points_module.EARNING for entry in record["checks"])
    return "\n".join(lines + ["", f"{passed} of {len(record['checks'])} checks passed.", ""])


def _to_fix(checks):
    """[(entries, first entry)] of the checks that earned nothing though worth points or failing, consecutive ones
    of a module with the same status and message together."""
    items = []
    for entry in checks:
        if entry["status"] in points_module.EARNING:
            continue
        last = items[-1][0][-1] if items else None
        if last is not None and (last["module"], last["status"], last["message"]) == \
                (entry["module"], entry["status"], entry["message"]) and entry["message"]:
            items[-1][0].append(entry)
        else:
            items.append(([entry], entry))
    return items


def summary(report, out):
    """The class summary as text: who was graded, the score distribution, the checks failed most often."""
    graded = [record for record in report["students"] if record["graded"]]
    lines = [f"Graded {len(graded)} of {len(report['students'])} submissions of {report['submissions']} in "
             f"{report['seconds']:.1f} s ({report['jobs']} at a time); gradebook in {out}"]
    if report["ignored"]:
        lines.append(f"Ignored (neither a folder nor a .zip): {', '.join(report['ignored'])}")
    lines += [f"Not graded: {record['student']}: {record['message']}" for record in report["students"]
              if not record["graded"]]
    if graded:
        scores = np.array([record["score"] for record in graded])
        lines += ["", f"Scores (out of {points_module.format_points(report['max_score'])}): mean {scores.mean():.1f}, "
                      f"median {np.median(scores):.1f}, lowest {scores.min():g}, highest {scores.max():g}"]
        lines += histogram(scores, report["max_score"])
    lines += ["", "Checks failed most often (fail, error or timeout): what to teach again"]
    lines += most_failed(graded) or ["  none"]
    return "\n".join(lines) + "\n"


def histogram(scores, max_score, bins=_HISTOGRAM_BINS, width=40):
    """Text lines of a histogram of `scores` in `bins` equal ranges of [0, max_score] (labelled in % of it, the
    last range closed)."""
    if max_score <= 0:
        return [f"  all {len(scores)} scores are 0 of 0"]
    counts = np.histogram(np.clip(scores / max_score, 0, 1), bins=np.linspace(0, 1, bins + 1))[0]
    scale = width / max(counts.max(), 1)
    labels = [f"{100 * i // bins}-{100 * (i + 1) // bins}%" for i in range(bins)]
    label_width = max(len(label) for label in labels)
    return [f"  {label.rjust(label_width)}  {'#' * round(count * scale)}{' ' if count else ''}{count}"
            for label, count in zip(labels, counts)]


def most_failed(records, limit=_MOST_FAILED):
    """Text lines: the checks that most students got wrong, with how many, the points at stake and the hint keys."""
    counts, hints, worth = collections.Counter(), collections.defaultdict(collections.Counter), {}
    for record in records:
        for entry in record["checks"]:
            if entry["status"] in _WRONG:
                counts[entry["id"]] += 1
                worth[entry["id"]] = entry["points"]
                if entry["hint_key"]:
                    hints[entry["id"]][entry["hint_key"]] += 1
    ranked = sorted(counts, key=lambda check_id: (-counts[check_id], check_id))[:limit]
    id_width = max((len(check_id) for check_id in ranked), default=0)
    lines = []
    for check_id in ranked:
        keys = ", ".join(f"{key} ({count})" for key, count in hints[check_id].most_common())
        lines.append(f"  {counts[check_id]:3d} of {len(records)}  {check_id.ljust(id_width)}  "
                     f"{points_module.format_points(worth[check_id])} points" + (f"  hints: {keys}" if keys else ""))
    return lines

