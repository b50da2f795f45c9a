"""Tiny TAP-ish helpers for the Python programs of the integration tests.

Each case prints "ok - DESC" or "not ok - DESC" followed by "# ..." detail lines; lib.sh's
`tap` turns them into numbered TAP assertions. A case is a function run immediately by the
@case decorator: it passes when it returns without raising."""
import sys
import traceback

def check(cond, desc, detail=""):
    line = ("ok - " if cond else "not ok - ") + desc
    if not cond and detail:
        line += "\n" + "\n".join("# " + l for l in str(detail).rstrip().splitlines())
    print(line, flush=True)
    return cond

def eq(got, expected, desc):
    return check(got == expected, desc, "got      %r\nexpected %r" % (got, expected))

def case(desc):
    def run(fn):
        try:
            fn()
            check(True, desc)
        except AssertionError as e:
            tb = traceback.extract_tb(e.__traceback__)[-1]
            check(False, desc, "assertion failed at line %d: %s\n%s" % (tb.lineno, tb.line, e))
        except BaseException as e:   # noqa: BLE001 — report, never stop the program
            check(False, desc, "".join(traceback.format_exception(type(e), e, e.__traceback__, limit=4)))
        return fn
    return run
