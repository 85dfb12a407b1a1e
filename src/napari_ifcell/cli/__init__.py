"""Command line: ``napari-ifcell info | pyramid | synth | demo | segment | import-labels |
evaluate-segmentation | run | quantify | gate | export-dataset | train | predict | evaluate |
compare | export | review-export | review-agreement``. Imports no Qt unless asked to show a
viewer."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C (128 + SIGINT)
EXIT_BROKEN_PIPE = 141  # as a shell reports a command whose reader went away (128 + SIGPIPE)


class _OneLineErrors(argparse.ArgumentParser):
    """Usage errors in one line, as every other error of the command line is (the usage is in
    ``--help``); subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from napari_ifcell.cli import cells, classifiers, compare, exports, review, slides

    parser = _OneLineErrors(prog="napari-ifcell", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (slides, cells, classifiers, compare, exports, review):
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from napari_ifcell.cli.progress import end_line
    from napari_ifcell.extras import MissingExtraError, missing_extra_message
    from napari_ifcell.io.errors import SlideError

    args = build_parser().parse_args(argv)
    from xml.etree.ElementTree import ParseError

    logging.getLogger("tifffile").setLevel(logging.CRITICAL)  # our errors name what tifffile only logs
    try:
        from napari_ifcell.notes import Note

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Note)
            _check_outputs_before_work(args)
            code = args.func(args)
            if sys.stdout is not None:  # None when started with standard output closed
                sys.stdout.flush()  # a closed pipe is found here, not at exit where it cannot be caught
        if code == 0:
            _show_notes(args.command, caught)
        return code
    except (
        SlideError,
        FileNotFoundError,
        FileExistsError,
        ValueError,
        MissingExtraError,
    ) as exc:  # Gate/CellTable/SamCheckpoint errors too
        end_line()
        _quiet_abandoned_reads()
        print(f"napari-ifcell {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError as exc:
        if not _stdout_closed():  # another pipe broke (a helper process died): an error like any
            print(f"napari-ifcell {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        # the reader of the output stopped (``| head``): quiet, as a shell tool is
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return EXIT_BROKEN_PIPE
    except (OSError, ParseError, MemoryError) as exc:  # a full disk, a missing folder, a file too big to hold
        end_line()
        _quiet_abandoned_reads()
        print(f"napari-ifcell {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback
        end_line()
        _quiet_abandoned_reads()
        print(f"napari-ifcell {args.command}: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:  # an optional dependency: name the extra
        message = missing_extra_message(exc.name or "")
        if message is None:
            raise
        print(f"napari-ifcell {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _stdout_closed() -> bool:
    """Whether the reader of standard output went away (its pipe reports an error)."""
    import select

    if sys.stdout is None:
        return False
    if not hasattr(select, "poll"):
        return True
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError):  # no file descriptor behind it
        return False


def _quiet_abandoned_reads() -> None:
    """After a failed read, zarr's event loop still holds the other chunk reads it had started;
    at exit Python reports each one ("Task was destroyed but it is pending!", dozens of lines
    after the one-line error). They were abandoned on purpose: nothing to report."""
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)


def _show_notes(command: str, caught) -> None:
    """What was guessed or left out (a slide's pixel size, a phenotype rule), once per note,
    after the command's output (on an error only the error line is shown); other warnings as
    Python shows them."""
    from napari_ifcell.notes import Note, note_messages

    for message in note_messages(caught):
        print(f"napari-ifcell {command}: note: {message}", file=sys.stderr)
    shown = set()
    for w in caught:  # once per place and message, as Python shows them (an export printed 177 alike)
        where = (w.category, str(w.message), w.filename, w.lineno)
        if not issubclass(w.category, Note) and where not in shown:
            shown.add(where)
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _check_outputs_before_work(args) -> None:
    """Before any work (the writers check too; this says so before minutes of computing): no
    output may take the place of a label store's own files, every output's suffix names a format
    its command writes (``output_suffixes``), and an output's folder, made if missing, must not be
    a file."""
    from pathlib import Path

    from napari_ifcell.io.atomic import refuse_label_store_file

    for name in ("out", "out_dir", "save_gates"):
        value = getattr(args, name, None)
        for path in value if isinstance(value, list) else [value]:
            if path is not None:
                refuse_label_store_file(path)
                blocking = next((p for p in Path(path).absolute().parents if p.exists()), None)
                if blocking is not None and not blocking.is_dir():
                    raise NotADirectoryError(f"{path}: {blocking} is a file, not a folder to write into")
    for name, suffixes in getattr(args, "output_suffixes", {}).items():  # every output's format, before any is written
        value = getattr(args, name, None)
        for path in value if isinstance(value, list) else [value]:
            if path is not None and Path(path).suffix.lower() not in suffixes:
                option = "--" + name.replace("_", "-")
                raise ValueError(
                    f"{option} {path}: expected a {' / '.join(suffixes)} file (the format follows the suffix)"
                )
    for name in getattr(args, "folder_outputs", ()):  # options that name a folder to write into
        path = getattr(args, name, None)
        if path is not None and Path(path).exists() and not Path(path).is_dir():
            option = "--" + name.replace("_", "-")
            raise NotADirectoryError(f"{path}: a file, where {option} expects a folder to write into")


if __name__ == "__main__":
    sys.exit(main())
