"""Child process for the viewing-locks test: an annotator's ``ctlabel view CASE`` window, driven over stdin.

    python _view_child.py CASE_ROOT

Builds the viewer as ``ctlabel view`` does (:func:`ctlabel_napari.launch.make_viewer`), paints a
stroke, submits from the labeling widget and prints one JSON line; then answers each command read
from stdin with one JSON line, and keeps the window open in between:

- ``status``: the layer's editable flag, whether the session holds the lock, the case state;
- ``edit``: edit again (take the lock back), paint a voxel and save the draft;
- ``submit``: submit from the labeling widget;
- ``quit``: close the sessions and exit.
"""

import json
import sys


def main(case_root: str) -> None:
    from qtpy.QtWidgets import QApplication

    from ctlabel.case.lock import lock_holder
    from ctlabel.case.record import state_of
    from ctlabel_napari import _case_ui
    from ctlabel_napari.launch import make_viewer

    _case_ui.ask_submit_despite_qa = lambda *a: True  # a person answers Yes to the QA question
    viewer, widget = make_viewer(case_root, annotator="ann1", show=False)
    session = widget.session
    layer = session.layer
    layer.paint((4, 20, 20), 1)
    number = widget.submit()
    app = QApplication.instance()
    app.processEvents()

    def status() -> dict:
        holder = lock_holder(case_root)
        return {"editable": bool(layer.editable), "holds_lock": session.lock is not None,
                "holder": None if holder is None else holder.user, "state": str(state_of(session.case))}

    print(json.dumps({"submitted": number, **status()}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        app.processEvents()
        if command == "status":
            print(json.dumps(status()), flush=True)
        elif command == "edit":
            try:
                session.edit_again()
                layer.paint((6, 22, 22), 2)
                widget.save()
                print(json.dumps({"saved": True, **status()}), flush=True)
            except Exception as exc:  # noqa: BLE001 - reported to the parent
                print(json.dumps({"saved": False, "error": str(exc), **status()}), flush=True)
        elif command == "submit":
            print(json.dumps({"submitted": widget.submit(), **status()}), flush=True)
        elif command == "quit":
            break
    widget.close_sessions()
    viewer.close()


if __name__ == "__main__":
    main(sys.argv[1])
