"""The Worklist dock widget: log in to a team server, take the next case, label, submit; review.

A thin adapter over :class:`ctlabel.Client` (the team server holds every rule: claims, leases,
states, review) and the existing widgets: a case is opened in the labeling widget on its
:class:`~ctlabel_napari.session.LabelSession` (the core ``EditingSession``), a case to review in
the Review widget, read-only with its QA findings. See docs/plugin.md, "Worklist".

* **Connect**: server URL and token, kept like ``ctlabel team login`` (``team-login.json``,
  mode 0600); who is logged in and their role, my cases (state, the reviewer's comment), my
  approved count, active time and amount owed, the project's guidelines.
* **Annotator** (:class:`._worklist_annotator.AnnotatorFlow`): Next case, Submit, Flag case,
  Withdraw; every save is uploaded in the background; offline, saves stay local ("offline, changes
  waiting") and go up when the server is back; a conflict keeps the local draft as a version of its own.
* **Reviewer** (:class:`._worklist_review.ReviewFlow`, with its
  :class:`._worklist_double.DoubleReadView`): Review next, Approve, Reject (comment and marks),
  Correct, double reading; Ctrl+Shift+A / Ctrl+Shift+R / Ctrl+Shift+N.
* **Time** (:class:`._worklist_activity.WorkTimer`): activity becomes heartbeats.

The widget composes them: each receives a :class:`._worklist_context.WorklistContext` (the
viewer, the login, the widget's services) and never sees the widget or the other collaborators.
The widget keeps the connection, my cases, the status and progress lines; network calls run in
worker threads (:class:`._worklist_tasks.Tasks`, napari's ``create_worker``; results come back on
the GUI thread). Its methods
and attributes ``next_case``, ``submit``, ``review_next``, ``approve``, ``approve_button``... are
the collaborators', for scripts and tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ctlabel import Client, CtlabelError, load_login, save_login

from ._accuracy_view import describe_accuracy, fetch_accuracy
from ._fit import scrolled_layout
from ._team_sync import Heartbeats, describe_case, describe_stats
from ._worklist_activity import WorkTimer
from ._worklist_annotator import AnnotatorFlow
from ._worklist_context import WorklistContext
from ._worklist_review import ReviewFlow
from ._worklist_tasks import Tasks


class WorklistWidget(QWidget):
    """The team client's dock widget.

    Attributes tests (or an embedding application) may replace: ``clock`` (seconds, for the
    heartbeat throttle), ``has_focus`` (whether the viewer window has focus), ``ask_text``
    (a reason or comment dialog), ``ask_force`` (submit despite QA errors?).
    """

    #: Emitted from worker threads with (file name, bytes done, bytes total); shown by the progress bar.
    progress_changed = Signal(str, int, int)

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.setObjectName("ctlabel_worklist")
        self.clock: Callable[[], float] = time.monotonic
        self.has_focus: Callable[[], bool] = self._window_has_focus
        self.tasks = Tasks(on_busy=self._set_busy, on_idle=lambda: self.progress.setVisible(False),
                           on_error=self._failed)
        beats = Heartbeats(lambda: self.timer.send(), has_focus=lambda: self.has_focus(), clock=lambda: self.clock())
        self.ctx = ctx = WorklistContext(napari_viewer, self, run=self.tasks.run, say=self.say, set_link=self.set_link,
                                         refresh=self.refresh, changed=self._enable_work, heartbeats=beats)
        lay = scrolled_layout(self)  # the dock scrolls instead of growing the window past the screen

        # The open case's news (a rejection's comment) on top
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setStyleSheet("background: #5a2a2a; color: white; padding: 4px; border-radius: 3px;")
        self.banner.setVisible(False)
        lay.addWidget(self.banner)

        # Connect
        box = QGroupBox("Team server")
        form = QFormLayout(box)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("http://127.0.0.1:8765")
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("token (from the lead)")
        self.login_button = QPushButton("Log in")
        self.login_button.setToolTip("Check the token with the server and keep it (as 'ctlabel team login', 0600)")
        self.login_button.clicked.connect(lambda: self.login())
        form.addRow("Server", self.url_edit)
        form.addRow("Token", self.token_edit)
        row = QHBoxLayout()
        self.who_label = QLabel("not logged in")
        self.who_label.setWordWrap(True)
        row.addWidget(self.who_label, 1)
        row.addWidget(self.login_button)
        form.addRow(row)
        self.link_label = QLabel("")
        self.link_label.setWordWrap(True)  # "offline, changes waiting — ..." must not widen the dock
        self.link_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        form.addRow("Link", self.link_label)
        lay.addWidget(box)

        # Work: the annotator's and the reviewer's buttons (one of them shown, by role)
        self.annotator = AnnotatorFlow(ctx, self.banner)
        self.review = ReviewFlow(ctx)
        self.timer = WorkTimer(ctx, active_case=self.active_case, synced=self.annotator.synced)
        self.annotator_box, self.reviewer_box = self.annotator.box, self.review.box
        self._name_parts()
        lay.addWidget(self.annotator_box)
        lay.addWidget(self.reviewer_box)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setFormat("%p% %v/%m KiB")
        lay.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # a long URL wraps
        lay.addWidget(self.status)

        # My cases, stats and guidelines
        tabs = QTabWidget()
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(2, 2, 2, 2)
        self.stats_label = QLabel("")
        self.stats_label.setWordWrap(True)
        v.addWidget(self.stats_label)
        self.cases_list = QListWidget()
        self.cases_list.setWordWrap(True)
        v.addWidget(self.cases_list)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self.refresh())
        v.addWidget(self.refresh_button)
        tabs.addTab(page, "My cases")
        self.guidelines = QTextBrowser()
        self.guidelines.setOpenExternalLinks(True)
        tabs.addTab(self.guidelines, "Guidelines")
        self.accuracy_text = QTextBrowser()  # my own accuracy per label (_accuracy_view)
        tabs.addTab(self.accuracy_text, "My accuracy")
        self.tabs = tabs
        lay.addWidget(tabs, 1)

        self.progress_changed.connect(self._on_progress)
        self._show_role()
        try:
            url, token = load_login()
        except CtlabelError:
            return
        self.url_edit.setText(url)
        self.token_edit.setText(token)
        self.login(save=False)

    # --- plumbing ----------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """No worker is running (tests wait for it)."""
        return self.tasks.idle

    def _set_busy(self, busy: bool) -> None:
        self.ctx.busy = busy
        for b in (self.login_button, *self.work_buttons()):
            b.setEnabled(not busy)
        if busy:
            return
        self.progress.setVisible(False)
        self._enable_work()

    def _failed(self, exc: BaseException) -> None:
        """A task without its own ``failed``: its error in the status line."""
        self.say(str(exc), error=True)

    def say(self, text: str, error: bool = False, notify: bool = True) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setStyleSheet("color: #e05050;" if error else "")
        if notify:
            try:
                from napari.utils.notifications import show_error, show_info

                (show_error if error else show_info)(text)
            except Exception:  # noqa: BLE001 - notifications are a convenience only
                pass

    def _on_progress(self, name: str, done: int, total: int) -> None:
        self.progress.setVisible(True)
        self.progress.setMaximum(max(1, total // 1024))
        self.progress.setValue(min(done, total or done) // 1024)
        self.progress.setToolTip(name)

    def _window_has_focus(self) -> bool:
        """One of the application's windows (the viewer, a floating dock) has the keyboard focus."""
        from qtpy.QtWidgets import QApplication

        return QApplication.activeWindow() is not None

    def work_buttons(self) -> list:
        return [*self.annotator.buttons, *self.review.buttons]

    def _enable_work(self) -> None:
        self.annotator.enable()
        self.review.enable()

    def active_case(self) -> str | None:
        """The case heartbeats are for: the one being labelled, else the one being reviewed."""
        return self.annotator.case_name or self.review.case_name

    # --- connect -------------------------------------------------------------------------------
    def login(self, url: str | None = None, token: str | None = None, *, save: bool = True):
        """Check the token with the server (``GET /me``); keep it (mode 0600) and show my work."""
        url = (url or self.url_edit.text()).strip().rstrip("/")
        token = (token or self.token_edit.text()).strip()
        if not url or not token:
            self.say("enter the server URL and your token", error=True)
            return None
        self.url_edit.setText(url)
        self.token_edit.setText(token)
        client = Client(url, token, timeout=30.0, on_progress=self.progress_changed.emit)

        def done(me: dict) -> None:
            if self.client is not None:
                self.client.close()
            self.ctx.client, self.ctx.me = client, me
            if save:
                save_login(url, token)
            self.set_link("online")
            self._show_role()
            self.say(f"logged in as {me['user']} ({me['role']})", notify=False)
            self.refresh()

        def failed(exc: BaseException) -> None:
            client.close()
            self.say(f"cannot log in: {exc}", error=True)

        return self.tasks.run(client.me, done=done, failed=failed)

    @property
    def client(self) -> Client | None:
        """The logged-in client (a script may set another, e.g. one whose server cannot be reached)."""
        return self.ctx.client

    @client.setter
    def client(self, client: Client | None) -> None:
        self.ctx.client = client

    @property
    def me(self) -> dict:
        """``GET /me``: user and role ({} before a login)."""
        return self.ctx.me

    @property
    def role(self) -> str:
        return self.ctx.role

    @property
    def busy(self) -> bool:
        return self.ctx.busy

    @property
    def link_state(self) -> str:
        return self.ctx.link_state

    def _show_role(self) -> None:
        role = self.role
        self.who_label.setText(f"<b>{self.me['user']}</b> ({role})" if self.me else "not logged in")
        self.annotator_box.setVisible(role in ("annotator", "lead"))
        self.reviewer_box.setVisible(role in ("reviewer", "lead"))
        self._enable_work()

    def set_link(self, state: str, detail: str = "") -> None:
        """``online``, ``uploading``, ``offline`` (changes waiting) or ``conflict``, shown under the token."""
        text = {"online": "online", "uploading": "uploading the draft…",
                "offline": "offline, changes waiting", "conflict": "conflict: your version is kept"}.get(state, state)
        self.ctx.link_state = state
        self.link_label.setText(text + (f" — {detail}" if detail else ""))
        self.link_label.setStyleSheet("color: #e0a030;" if state in ("offline", "conflict") else "")

    def refresh(self):
        """Fetch my cases, my stats, the guidelines and my accuracy (in the background)."""
        client = self.client
        if client is None:
            return None

        def fetch() -> tuple:
            return client.my_cases(), client.my_stats(), client.guidelines(), fetch_accuracy(client)

        def done(result: tuple) -> None:
            cases, stats, guidelines, accuracy = result
            self.my_cases = cases
            self.cases_list.clear()
            for info in cases:
                self.cases_list.addItem(describe_case(info))
            if not cases:
                self.cases_list.addItem("no cases yet: press Next case")
            self.stats_label.setText(describe_stats(stats))
            self.guidelines.setMarkdown(guidelines or "*The lead has not written guidelines yet.*")
            self.accuracy_text.setPlainText(describe_accuracy(accuracy))

        return self.tasks.run(fetch, done=done, failed=self.ctx.network_failed, busy=False)

    def closeEvent(self, event) -> None:
        self.annotator.watch.stop()
        if self.client is not None:
            self.client.close()
        super().closeEvent(event)

    # --- the collaborators' parts under the names scripts and tests use -----------------------------
    def _name_parts(self) -> None:
        a, r, d = self.annotator, self.review, self.review.double
        self.next_button, self.submit_button, self.flag_button, self.withdraw_button = a.buttons
        self.case_label, self.marks_list = a.case_label, a.marks_list
        (self.review_next_button, self.approve_button, self.reject_button, self.correct_button,
         self.upload_correction_button, self.mark_button) = r.buttons[:6]
        self.review_label, self.review_comment, self.mark_note = r.label, r.comment, r.mark_note
        self.review_marks_list, self.double_read_hooks = r.marks_list, r.hooks
        self.double_box, self.agreement_label = d.box, d.agreement_label
        self.approve_fusion_button, self.approve_read_button, self.correct_read_button = d.buttons
        self.read_choice = d.read_choice
        self.heartbeats = self.ctx.heartbeats
        # the annotator's actions
        self.next_case, self.submit, self.flag, self.withdraw = a.next_case, a.submit, a.flag, a.withdraw
        self.push, self.case_session, self.jump_to_mark, self.close_case = (a.push, a.case_session,
                                                                            a.jump_to_mark, a.close_case)
        # the reviewer's
        self.review_next, self.approve, self.reject, self.add_mark = r.review_next, r.approve, r.reject, r.add_mark
        self.start_correction, self.upload_correction = r.start_correction, r.upload_correction
        self.approve_read, self.correct_from = r.approve_read, r.correct_from

    @property
    def ask_text(self) -> Callable:
        """The dialog asking for a reason or comment: ``ask_text(parent, title, prompt) -> str | None``."""
        return self.ctx.ask_text

    @ask_text.setter
    def ask_text(self, fn: Callable) -> None:
        self.ctx.ask_text = fn

    @property
    def ask_force(self) -> Callable:
        """The question whether to submit despite QA errors: ``ask_force(parent, findings, jump) -> bool``."""
        return self.ctx.ask_force

    @ask_force.setter
    def ask_force(self, fn: Callable) -> None:
        self.ctx.ask_force = fn

    @property
    def case_info(self) -> dict | None:
        return self.annotator.case_info

    @property
    def case_dir(self) -> Path | None:
        return self.annotator.case_dir

    @property
    def review_info(self) -> dict | None:
        return self.review.info

    @property
    def review_widget(self):
        return self.review.review_widget


__all__ = ["WorklistWidget"]
