"""`make check-docs`: every notebook goes through the docs processing without error, and no cell mixes imports
with other code.

Each notebook is processed as `nbdev_proc_nbs` processes it (`nbdev.serve_drv`: `FilterDefaults()(read_nb(nb))`
with `IN_TEST=1`; that runs the imports, the exported cells and the `show_doc` cells in a fresh IPython shell),
in memory and in parallel, and every failure is reported with its notebook, not only the first one.

Why not call `nbdev_proc_nbs` itself: where Quarto is missing it first runs Quarto's installer (with sudo) and
then `pip install -e ".[dev]"` with the first pip on PATH (reinstalling the project into the venv under any
test that is running), rewrites nbs/sidebar.yml when settings.ini has `custom_sidebar = False`, and force-deletes
`_proc/`. This check writes nothing.

A cell that mixes imports with other code is an error here: nbdev executes every cell holding an import while
processing (to make `show_doc` work), so the other code runs too, without the cells before it that it needs
(`NameError: name 'ds' is not defined`). Fix: move the import into a cell of its own.

    .venv/bin/python tools/check_docs.py [NOTEBOOK ...]     (default: every notebook nbdev processes)
"""
import os, sys, traceback, warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MIXED = 'Found cells containing imports and other code'


def _first_line(s:str, n:int=160) -> str:
    s = s.strip().splitlines()[0] if s.strip() else ''
    return s if len(s) <= n else s[:n] + '...'


def process(path:str) -> tuple[str, list[str], str | None]:
    "Process one notebook as nbdev_proc_nbs does, in memory: (path, mixed cells as 'cell N (id): first line', error)."
    os.environ['IN_TEST'] = '1'
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults
    cells = [(i, c.get('id', '?'), ''.join(c['source'])) for i, c in enumerate(read_nb(path).cells)]
    err = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try: FilterDefaults()(read_nb(path))
        except Exception as e:
            cause, src = e.__cause__ or e, str(e).split(' :\n', 1)[-1].strip()  # nbdev's message ends with the cell
            hit = next(((i, cid) for i, cid, s in cells if src and src in s), None)
            where = f'cell {hit[0]} (id {hit[1]})' if hit else _first_line(str(e))
            err = f'{where}: {type(cause).__name__}: {cause}'
        except BaseException as e: err = f'{type(e).__name__}: {e}\n{traceback.format_exc()[-1500:]}'
    mixed = []
    for w in caught:
        msg = str(w.message)
        if MIXED not in msg: continue
        src = msg.split('---\n', 1)[-1].rsplit('\n---', 1)[0].strip()  # the cell as nbdev saw it (directives removed)
        hit = next(((i, cid, s) for i, cid, s in cells if src and src in s), None)
        imp = next((l for l in src.splitlines() if l.lstrip().startswith(('import ', 'from '))), src)
        mixed.append(f'cell {hit[0]} (id {hit[1]}): {_first_line(imp)}' if hit else f'a cell: {_first_line(imp)}')
    return path, mixed, err


def notebooks() -> list[str]:
    "The notebooks nbdev_proc_nbs processes (nbdev's own glob: no `_`/`.` files or folders)."
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    return sorted(str(p) for p in nbglob(get_config().nbs_path, as_path=True))


def main(args:list[str]) -> int:
    nbs = args or notebooks()
    workers = max(1, min(len(nbs), os.cpu_count() or 1, 4))
    import multiprocessing as mp
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import check_docs  # workers find `process` by module name: IPython's shell replaces a worker's __main__
    with ProcessPoolExecutor(workers, mp_context=mp.get_context('spawn')) as ex:
        results = list(ex.map(check_docs.process, nbs))
    bad = 0
    for path, mixed, err in results:
        name = os.path.relpath(path)
        if err: bad += 1; print(f'FAIL {name}: docs processing fails in {err}')
        for m in mixed: bad += 1; print(f'FAIL {name}: {m}  <- imports mixed with other code: move the import into a cell of its own')
    if bad:
        print(f'check-docs: {bad} problem(s) in {len({p for p, m, e in results if m or e})} notebook(s) of {len(nbs)}')
        return 1
    print(f'ok: {len(nbs)} notebooks go through the docs processing (nbdev_proc_nbs) cleanly')
    return 0


if __name__ == '__main__': sys.exit(main(sys.argv[1:]))
