"""What a skipped check's reason means: waived, not applicable, or not run — one vocabulary.

Why a module of its own: the plugin writes these reasons (cloudgate.plugin) and the operators' page
reads them back from junit.xml and summary.json (cloudgate.report.page); both must agree word for
word, and the page must not import the plugin (pytest) to learn them. Stdlib only.
"""

from __future__ import annotations

NOT_RUN = "not run: "
NOT_APPLICABLE = "not run: not applicable, "
WAIVED = "waived until"
# a check the run never finished: it was cut short by Ctrl-C, a signal or a crash, or never started
CUT_SHORT = NOT_RUN + "cut short, "
INTERRUPTED = CUT_SHORT + "interrupted (Ctrl-C, a timeout or a crash) before it finished"
NOT_STARTED = CUT_SHORT + "the run ended before this check started ({why})"


def skip_kind(reason: str) -> str:
    """The outcome a skip reason stands for: waived, not_applicable or not_run."""
    if reason.startswith(WAIVED):
        return "waived"
    if reason.startswith(NOT_APPLICABLE):
        return "not_applicable"
    return "not_run"
