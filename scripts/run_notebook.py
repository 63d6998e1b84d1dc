"""Executes one notebook with nbclient, cell by cell, for scripts/notebooks.ts.

Why not `jupyter nbconvert --execute`: tslab reports failures as a bare `status: error` reply (the message goes
to the cell's stderr stream), so nbconvert's exception carries no message; and nbconvert has per-cell timeouts
only. Here the whole run shares one wall-clock budget, execution stops at the first failing cell, and the
executed notebook (outputs so far) and its HTML export are always written. The budget starts once the kernel is
up (tslab's start, 2-10 s on a loaded machine, has its own --startup-timeout).

Usage: python3 run_notebook.py INPUT.ipynb OUTPUT.ipynb OUTPUT.html RESULT.json --kernel tslab --budget 60 --cwd DIR
Exit status 0 whenever the result file was written (the result says ok / error / timeout); 2 on bad usage.
"""
import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("html")
    ap.add_argument("result")
    ap.add_argument("--kernel", default="tslab")
    ap.add_argument("--budget", type=float, default=600.0)
    ap.add_argument("--startup-timeout", type=float, default=60.0)
    ap.add_argument("--cwd", default=".")
    a = ap.parse_args()

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(a.input, as_version=4)
    t0 = time.monotonic()
    deadline = t0 + a.budget  # reset once the kernel is up
    result = {"status": "ok", "failed_cell": None, "message": "", "cells": [], "kernel_start_s": None}
    replies = {}

    client = NotebookClient(
        nb,
        kernel_name=a.kernel,
        timeout=max(1, int(a.budget)),
        startup_timeout=int(a.startup_timeout),
        allow_errors=True,  # we stop at the first error ourselves, after its outputs are recorded
        record_timing=True,
        resources={"metadata": {"path": a.cwd}},
    )
    client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.__setitem__(cell_index, execute_reply)

    try:
        with client.setup_kernel():
            # As NotebookClient.execute does: language_info lets the HTML export highlight TypeScript.
            info = client.wait_for_reply(client.kc.kernel_info())
            if info and "language_info" in info["content"]:
                nb.metadata["language_info"] = info["content"]["language_info"]
            result["kernel_start_s"] = round(time.monotonic() - t0, 3)
            deadline = time.monotonic() + a.budget
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result.update(status="timeout", failed_cell=index, message=f"budget of {a.budget:g} s spent before this cell")
                    break
                client.timeout = max(1, int(remaining + 0.999))
                c0 = time.monotonic()
                try:
                    client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                except CellTimeoutError:
                    result.update(status="timeout", failed_cell=index, message=f"budget of {a.budget:g} s ran out in this cell")
                    break
                except DeadKernelError as e:
                    result.update(status="error", failed_cell=index, message=f"kernel died: {e}")
                    break
                result["cells"].append({"index": index, "elapsed_s": round(time.monotonic() - c0, 3)})
                reply = replies.get(index) or {}
                status = (reply.get("content") or {}).get("status", "ok")
                if status != "ok":
                    result.update(status="error", failed_cell=index, message=f"execute reply status: {status}")
                    break
    except Exception as e:  # kernel failed to start, or died between cells
        if result["status"] == "ok":
            result.update(status="error", message=f"{type(e).__name__}: {e}")

    result["elapsed_s"] = round(time.monotonic() - t0, 3)
    result["cells_s"] = round(sum(c["elapsed_s"] for c in result["cells"]), 3)
    nbformat.write(nb, a.output)
    try:
        from nb_export import export_html  # this script's folder is on sys.path

        export_html(nb, a.html)
    except Exception as e:
        result["html_error"] = f"{type(e).__name__}: {e}"
    with open(a.result, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
