"""Draw the state diagram of the seven-step workflow from the code (improvement/workflow/).

Writes docs/workflow.dot and, when Graphviz's `dot` is installed, docs/workflow.svg.
A test checks that the committed DOT file matches the code, so the picture never drifts.
"""

import shutil
import subprocess
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from improvement.choices import Step
from improvement.workflow import all_edges

STEP_COLOURS = {
    Step.PROPOSED: "#e2e8f0",
    Step.CLOSED: "#bbf7d0",
    Step.REJECTED: "#fecaca",
    Step.CANCELLED: "#fecaca",
}


def workflow_dot() -> str:
    """The DOT source of the state diagram: one node per state, one edge per transition."""
    lines = [
        "digraph workflow {",
        '  graph [rankdir=LR, fontname="Helvetica", nodesep=0.35, ranksep=0.45];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11,'
        ' fillcolor="#dbeafe", color="#1e3a8a"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#334155"];',
    ]
    for step in Step:
        colour = STEP_COLOURS.get(step, "#dbeafe")
        label = step.label.replace(" · ", "\\n")
        lines.append(f'  {step.value} [label="{label}", fillcolor="{colour}"];')
    for source, target, move in all_edges():
        label, style = move.label, ""
        if move.back:
            style = ', style=dashed, color="#b45309"'
        if target in (Step.CANCELLED, Step.REJECTED):
            style = ', style=dotted, color="#94a3b8"'
            label = "" if source != Step.PROPOSED else label
        lines.append(f'  {source} -> {target} [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


class Command(BaseCommand):
    help = "Draw the workflow state diagram from the code into docs/ (DOT, and SVG with dot)."

    def add_arguments(self, parser):
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "docs"))

    def handle(self, *args, out, **options):
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        dot_path = out_dir / "workflow.dot"
        dot_path.write_text(workflow_dot())
        self.stdout.write(f"wrote {dot_path}")
        dot = shutil.which("dot")
        if dot:
            svg_path = out_dir / "workflow.svg"
            subprocess.run([dot, "-Tsvg", str(dot_path), "-o", str(svg_path)], check=True)  # noqa: S603
            self.stdout.write(f"wrote {svg_path}")
        else:
            self.stdout.write("Graphviz 'dot' not found: install graphviz to render the SVG.")
