#!/usr/bin/env python3
"""`nbdev_test`, unchanged, that also writes a JUnit XML report: one <testcase> per notebook (pass/fail, seconds).

nbdev_test has no JUnit option. This runs nbdev's own `nbdev_test` command (same arguments, same parallel workers,
same output and exit status) and wraps the `parallel` call it makes, which returns (passed, seconds) for each
notebook in the parent process: the report is written from those, whatever the outcome. The Memory Bank's
testResults.md reads it (`make memory-bank`).

    ATF_JUNIT=.reports/nbtest.xml python tools/nbtest_junit.py [nbdev_test options]    (tools/nbtest.sh runs it)

Without ATF_JUNIT it is plain `nbdev_test`.
"""
import datetime, os, socket, sys
import xml.etree.ElementTree as ET
from pathlib import Path


def write_junit(path, files, results, flags='') -> Path:
    "Write the JUnit XML of one nbdev_test run: `files` (notebook paths) and their (passed, seconds) `results`."
    path = Path(path)
    failed = sum(not ok for ok, _ in results)
    suite = ET.Element('testsuite', name='nbdev_test' + (f' --flags {flags}' if flags else ''), tests=str(len(files)),
                       failures=str(failed), errors='0', skipped='0', time=f'{sum(t for _, t in results):.3f}',
                       timestamp=datetime.datetime.now().isoformat(timespec='seconds'), hostname=socket.gethostname())
    for f, (ok, secs) in zip(files, results):
        case = ET.SubElement(suite, 'testcase', classname=Path(f).name, name=Path(f).name, time=f'{secs:.3f}')
        if not ok:
            ET.SubElement(case, 'failure', message=f'{Path(f).name} failed: its traceback is in the nbdev_test output').text = (
                f'nbdev_test --path {f} reproduces it')
    root = ET.Element('testsuites'); root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}')
    tmp.write_bytes(ET.tostring(root, encoding='utf-8', xml_declaration=True) + b'\n')
    os.replace(tmp, path)
    return path


def install(out) -> None:
    "Wrap the `parallel` call of nbdev_test so that the report is written to `out` from its results."
    import nbdev.test as t
    out, parallel = Path(out).resolve(), t.parallel   # resolved: nbdev_test runs the notebooks from nbs/
    def _parallel(f, items, *args, **kwargs):
        results = list(parallel(f, items, *args, **kwargs))
        try: write_junit(out, list(items), results, ' '.join(kwargs.get('force_flags') or []))
        except Exception as e: print(f'note: could not write the JUnit report {out}: {e}', file=sys.stderr)
        return results
    t.parallel = _parallel


if __name__ == '__main__':
    from nbdev.test import nbdev_test
    if os.environ.get('ATF_JUNIT'): install(os.environ['ATF_JUNIT'])
    sys.argv[0] = 'nbdev_test'
    nbdev_test()   # at the top level of this script, so fastcore's call_parse reads sys.argv (as the console script does)
