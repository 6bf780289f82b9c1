"""What the add/edit dialogs for shared records (alert rules, connections) have in common.

Each of them is a form whose save runs in the worker pool and can be refused three ways: a
problem with one field (focus goes to it), a plain error (said under the form), or — in team
mode — ``ConcurrentUpdate``, because another user saved the record since the dialog read it.
The last one must never end in a lost change, so every such dialog handles it the same way: say
who and when, read the record again, show the other user's version in the form (or say it is
gone) and tell the panel behind it to reload too. That flow, the footer (error line, Save,
Cancel) and the failure handling live here once; a dialog supplies only what differs — how to
list the records, which one it shows, and how to put one back into its form.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QFrame, QLineEdit, QScrollArea, QVBoxLayout,
                               QWidget)

from cio_desktop.errors import ConcurrentUpdate, ValidationError
from cio_desktop.ui.dialogs.common import inline_error, primary_button, show_status, status_label


class FittingScrollArea(QScrollArea):
    """A form's scroll area that is as tall as the form when the screen has room, and scrolls
    when it does not (a connection's form is taller than a 768-pixel laptop screen): the title
    above and the Save / Cancel row below always stay in view."""

    #: screen height kept for the title, hints, the error line, the buttons and the window frame
    RESERVED = 300

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        hint = self.widget().sizeHint()
        screen = self.screen() or QGuiApplication.primaryScreen()
        room = screen.availableGeometry().height() - self.RESERVED if screen is not None else hint.height()
        return QSize(hint.width() + self.verticalScrollBar().sizeHint().width(), min(hint.height(), max(room, 200)))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(self.widget().minimumSizeHint().width(), 160)


class EditorDialog(QDialog):
    """Base class: a subclass builds its form between ``dialog_layout()``/``form_layout()`` and
    ``add_footer()`` and fills ``field_widgets`` (service field name → widget); it implements
    ``check`` and ``save_call`` (and ``run_save`` when the save needs more than the worker pool,
    e.g. a two-factor code), and ``reload_current``, ``show_current`` and ``show_gone`` for the
    conflict flow."""

    #: after a refused save the record was read again (the panel's table should reload too)
    reloaded = Signal()

    def __init__(self, ui_ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ui_ctx = ui_ctx
        self.result_value: Any = None
        #: a service's ``ValidationError.field`` → the widget that gets focus for it
        self.field_widgets: dict[str, QWidget] = {}

    # -- building ----------------------------------------------------------------------------------
    def dialog_layout(self) -> QVBoxLayout:
        """The dialog's column, with the margins every editor uses."""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        return layout

    def form_layout(self) -> QFormLayout:
        """The form (kept as ``self.form`` so rows can be hidden), fields growing to the width."""
        self.form = QFormLayout()
        self.form.setSpacing(8)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return self.form

    def add_form(self, layout: QVBoxLayout, form: QFormLayout) -> None:
        """Put the form into ``layout`` inside a :class:`FittingScrollArea`."""
        body = QWidget()
        body.setLayout(form)
        form.setContentsMargins(0, 0, 4, 0)
        layout.addWidget(FittingScrollArea(body), 1)

    def add_footer(self, layout: QVBoxLayout, name: str, save_text: str) -> None:
        """The error line and Save / Cancel at the bottom of ``layout``; ``name`` prefixes their
        object names (``ruleError``, ``ruleSave``). Save is the default button and calls ``submit``."""
        self.error_label = status_label("error")
        self.error_label.setObjectName(f"{name}Error")
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox()
        self.save_button = primary_button(save_text)
        self.save_button.setObjectName(f"{name}Save")
        self.save_button.setDefault(True)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.submit)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    # -- saving ------------------------------------------------------------------------------------
    def check(self) -> str | None:
        """Problems found on the GUI thread without I/O (None = fine); the field in question gets focus."""
        raise NotImplementedError

    def save_call(self) -> Callable[[], Any]:
        """The service call that saves the form, its values read now (it runs off the GUI thread)."""
        raise NotImplementedError

    def submit(self) -> None:
        """Save: the form is checked first, so a bad field is reported before anything is sent."""
        problem = self.check()
        if problem:
            self.fail(problem)
            return
        fn = self.save_call()
        self.save_button.setEnabled(False)
        show_status(self.error_label, "")
        self.run_save(fn)

    def run_save(self, fn: Callable[[], Any]) -> None:
        self.ui_ctx.workers.run(fn, self._saved, self._failed)

    # -- focus and messages ------------------------------------------------------------------------
    def focus_field(self, field: str) -> None:
        """Put the cursor in the widget for ``field`` (a name the service uses), if there is one."""
        widget = self.field_widgets.get(field)
        if widget is not None:
            self.focus_widget(widget)

    def focus_widget(self, widget: QWidget) -> None:
        widget.setFocus()
        if isinstance(widget, QLineEdit):
            widget.selectAll()   # typing replaces what was refused

    def fail(self, text: str) -> None:
        show_status(self.error_label, text)
        if text and self.isVisible():
            self.adjustSize()  # grow for the message instead of squeezing the fields above it

    # -- the answer from the worker ----------------------------------------------------------------
    def _saved(self, view: Any) -> None:
        self.save_button.setEnabled(True)
        self.result_value = view
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self.save_button.setEnabled(True)
        if isinstance(exc, ConcurrentUpdate) and self.can_reload:
            self.fail(str(exc))
            self.reload_current(str(exc))
            return
        if isinstance(exc, ValidationError) and exc.field:
            self.focus_field(exc.field)
        self.fail(inline_error(self.ui_ctx, exc))

    # -- after a conflict --------------------------------------------------------------------------
    @property
    def can_reload(self) -> bool:
        """Whether there is a record to read again after a conflict (a dialog adding one may have none)."""
        return True

    def reload_current(self, message: str) -> None:
        """Read the record again after a conflict: call ``reload_from`` with how to list the records
        and how to recognise this one."""
        raise NotImplementedError

    def show_current(self, record: Any) -> str:
        """Put ``record`` (the version saved now) into the form; return the line saying so."""
        raise NotImplementedError

    def show_gone(self) -> str:
        """The record was deleted meanwhile: adjust the form; return the line saying so."""
        raise NotImplementedError

    def reload_from(self, message: str, fetch: Callable[[], Iterable[Any]],
                    is_current: Callable[[Any], bool]) -> None:
        """Run ``fetch`` in the worker pool, find the record ``is_current`` picks and show it (or
        say it is gone), keeping ``message`` — the conflict's who and when — above that line, so
        the user makes their change again on top of the other user's; then emit ``reloaded``."""

        def done(records: Iterable[Any]) -> None:
            current = next((r for r in records if is_current(r)), None)
            note = self.show_gone() if current is None else self.show_current(current)
            self.fail(f"{message}\n{note}")
            self.reloaded.emit()

        self.ui_ctx.workers.run(fetch, done,
                                lambda exc: self.fail(f"{message}\nCould not reload: "
                                                      f"{inline_error(self.ui_ctx, exc)}"))


__all__ = ["EditorDialog"]
