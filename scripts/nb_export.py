"""Exports a notebook to one self-contained HTML page with nbconvert, for scripts/notebooks*.ts.

nbconvert's templates link require.js and MathJax from a CDN; these remote <script src> tags are removed, so the
page loads nothing from the network (everything else, CSS included, is inline; the notebooks' figures carry their
pictures and, where the notebook has it, plotly.js). The notebooks write formulas in Unicode, so MathJax is not
needed; LaTeX in a Markdown cell ($…$) stays as typed.

Usage: python3 nb_export.py INPUT.ipynb OUTPUT.html
"""
import re
import sys

REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*", re.IGNORECASE)


def export_html(nb, path):
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    body = REMOTE_SCRIPT.sub("", body)
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    import nbformat

    export_html(nbformat.read(sys.argv[1], as_version=4), sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
