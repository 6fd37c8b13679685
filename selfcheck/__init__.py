"""The self-check: named checks of the assignment run on anyone's layers.py, model.py, optim.py, ... (see
docs/self-check.md).

- runner.py: the command line and `run` (what `check_solution.py` at the repository's root calls), the workers'
  supervision, the report's statuses and exit codes;
- worker.py: the worker process, which imports the learner's modules from their folder only and runs the checks;
- base.py: what a check is made of (the registry, the outcomes, the hints, numeric gradients); tools.py: helpers
  of several check modules; report.py: the printed table; oracles.py: the plain-loop definitions checked against;
- checks/: one module of checks per assignment module (checks/layers.py judges the learner's layers.py, ...);
- grading a class (docs/grading.md): grading.py (--grade: the batch, one process per submission), submissions.py
  (the entries, their private copies, where the modules are), points.py (the points and the score), gradebook.py
  (grades.csv, feedback, report.json, the summary), gradescope.py (the Gradescope autograder).

Nothing here imports the repository's own modules of the assignment: in a worker, `layers`, `kernels`, ... are the
learner's.
"""
