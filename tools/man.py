#!/usr/bin/env python3
"""tools/man.py BIN > man/lookalike.1 — writes the manual page from the binary's own help.

`lookalike --help` lists the commands; each `lookalike COMMAND --help` becomes the page's
section for that command, so the page says what the binary says (the help texts in src/cli/
stay the one place an option is described). The parts no --help has (NAME, DESCRIPTION,
ENVIRONMENT, FILES, EXAMPLES, SEE ALSO) are written here. Run it after changing a help text:
    python3 tools/man.py build/lookalike > man/lookalike.1
tests/cli.sh checks that every command and option of the binary's help is in the page and that
groff renders it without warnings.
"""
import re
import subprocess
import sys
import time


def esc(s):
    """Text as roff: backslashes escaped, hyphens of options as minus signs, no control lines."""
    s = s.replace("\\", "\\e")
    s = re.sub(r"(?<![\w-])-(?=[-\w])", r"\\-", s)  # -k, --db (not the hyphen in "re-listed")
    s = re.sub(r"(?<=\\-)-", r"\\-", s)
    if s[:1] in (".", "'"):
        s = "\\&" + s
    return s


def help_of(binary, args):
    r = subprocess.run([binary] + args, capture_output=True, text=True)
    return r.stdout if r.stdout else r.stderr


def commands(main_help):
    """The command names of `lookalike --help`'s command list, in its order."""
    out, on = [], False
    for line in main_help.splitlines():
        if line.startswith("commands:"):
            on = True
            continue
        if on:
            if not line.strip():
                break
            m = re.match(r"  ([a-z][a-z-]*)\b", line)
            if m and m.group(1) not in out:
                out.append(m.group(1))
    return out


def body(text):
    """A command's --help (after its usage lines) as roff: paragraphs (lines at the margin, and
    lines indented 3+ that continue one), terms with their descriptions (lines indented 2: an
    option, a format, a subcommand; their continuation lines indented 3+) as .TP, and blocks
    indented 3+ after a blank line (examples) kept as they are."""
    out, state = [], None  # None (after a blank line), "para", "term", "pre"

    def close_pre():
        if state == "pre":
            out.extend([".RE", ".fi"])

    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        t = line.strip()
        if not t:
            close_pre()
            state = None
            continue
        term = re.match(r"  (\S(?:\S| (?! ))*)(?:\s{2,}(.*))?$", line) if indent == 2 else None
        example = bool(term) and term.group(1).startswith("lookalike ")  # a command line
        if example:
            term = None
        if term:
            close_pre()
            name, desc = term.group(1), term.group(2)
            one = re.match(r"(-\S+(?: [A-Z]\S*)?) (\S.*)", name) if not desc and len(name) > 24 else None
            if one:  # "--color-weight W weight of ...": a single blank after the option
                name, desc = one.group(1), one.group(2)
            out.extend([".TP", "\\fB" + esc(name) + "\\fR"])
            if desc:
                out.append(esc(desc.strip()))
            state = "term"
        elif not example and indent >= 3 and (state == "term" or (state == "para" and line[4:5] != " ")):
            out.append(esc(t))
        elif example or indent >= 3:
            if state != "pre":
                out.extend([".PP", ".nf", ".RS 4"])
            out.append(esc(line[4:] if indent >= 4 and not example else t))
            state = "pre"
        else:
            if state != "para" or t.startswith("exit codes:"):
                close_pre()
                out.append(".PP")
            out.append(esc(t))
            state = "para"
    close_pre()
    return out


def section(binary, cmd):
    text = help_of(binary, [cmd, "--help"])
    lines = text.splitlines()
    usage, rest = [], 0
    for n, line in enumerate(lines):
        s = line.strip()
        if n == 0 and s.startswith("usage:"):
            usage.append(s[len("usage:"):].strip())
        elif usage and (line.startswith("       lookalike") or (line.startswith(" ") and s.startswith("["))):
            usage.append(s if s.startswith("lookalike") else "    " + s)
        else:
            rest = n
            break
    else:
        rest = len(lines)
    out = ['.SH "lookalike %s"' % cmd, ".nf"]
    out += [esc(u) for u in usage]
    out.append(".fi")
    out += body("\n".join(lines[rest:]))
    return out


HEAD = r""".TH LOOKALIKE 1 "%(date)s" "lookalike %(version)s" "User Commands"
.\" Written by tools/man.py from the binary's help texts; regenerate rather than edit.
.ad l
.nh
.SH NAME
lookalike \- visual search for fashion catalogs
.SH SYNOPSIS
.nf
\fBlookalike\fR \fICOMMAND\fR [\fIoptions\fR]
\fBlookalike\fR \fICOMMAND\fR \fB\-\-help\fR
\fBlookalike \-\-version\fR
.fi
.SH DESCRIPTION
\fBlookalike\fR finds the products of a catalog that look like a photo.
\fBlookalike index\fR embeds product photos (\fIID\fR.jpg, .png or .webp, with an optional
styles.csv of metadata) into a catalog: a SQLite file, or a PostgreSQL database given as a
postgresql://user@host/db URL.
\fBlookalike search\fR and \fBlookalike similar\fR answer from it on the command line,
\fBlookalike serve\fR is an HTTP server with a web page and a JSON API that follows the
catalog's changes live, and \fBlookalike recommend\fR and \fBlookalike export\fR write what
other systems load: every product's neighbours, or the vectors and metadata.
.PP
Each command below is listed as \fBlookalike \fICOMMAND\fB \-\-help\fR prints it.
"""

TAIL = r""".SH "EXIT STATUS"
.TP
.B 0
success
.TP
.B 1
failure (the message says why)
.TP
.B 2
usage error: an unknown option, a missing or out-of-range value
.TP
.B 3
not found: the catalog, an item, a key
.TP
.B 4
bad input file: a photo that does not decode, a file that is not what it should be
.TP
.B 130
interrupted (SIGINT, SIGTERM, SIGHUP): work already committed is kept; run again to resume
.PP
\fBserve\fR exits 0 when stopped by a signal; its \-\-help gives its own codes.
.SH ENVIRONMENT
.TP
.B LOOKALIKE_MODELS
the folder with the model files (mobilenet_v2_1.0_224_quant.tflite and the others a recipe
names), when \fB\-\-models\fR is not given; searched before ./models, ../shared/models and
the models folder beside the binary's folder.
.TP
.B OMP_NUM_THREADS
read by the OpenMP runtime of oneDNN (the CNN's convolutions) where lookalike does not set a
thread count itself: then its threads per embedding (default: all cores).
.SH FILES
.TP
.I catalog.db
a SQLite catalog: items, vectors, the embedding recipe, API keys, the change sequence
(\fBlookalike check\fR verifies it).
.TP
.I ./models, ../shared/models
where the model files are looked for (see ENVIRONMENT); \fBscripts/models.sh\fR fetches and
verifies them.
.TP
.I catalog.db.lkx
the saved vector index (\fBlookalike optimize\fR): mapped at start when current, else rebuilt.
.TP
.I FILE.tmp
every output file (recommend's CSV, export's files, map pictures) is written under this name,
synced and renamed to FILE when complete.
.SH EXAMPLES
Index the fashion catalog, then search it with a photo, women's items only:
.PP
.nf
.RS 4
lookalike index images/ \-\-styles styles.csv \-\-db catalog.db
lookalike search photo.jpg \-\-db catalog.db \-k 10 \-\-where gender=Women
.RE
.fi
.PP
The neighbours of one catalog item, and every product's ten, of the same gender, as CSV:
.PP
.nf
.RS 4
lookalike similar 15970 \-\-db catalog.db \-k 10
lookalike recommend \-\-db catalog.db \-\-k 10 \-\-same gender \-\-out similar.csv
.RE
.fi
.PP
Serve the page and the JSON API on all addresses, then export the vectors for pandas:
.PP
.nf
.RS 4
lookalike serve \-\-db catalog.db \-\-host 0.0.0.0 \-\-port 8080
lookalike export \-\-db catalog.db \-\-format csv \-\-out catalog.csv
.RE
.fi
.SH "SEE ALSO"
.BR sqlite3 (1),
.BR psql (1);
README.md, docs/API.md (the HTTP API), docs/DEPLOY.md (PostgreSQL, replicas, HTTPS, export),
docs/QUALITY.md and docs/PERFORMANCE.md in the source tree.
"""


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/lookalike"
    main_help = help_of(binary, ["--help"])
    version = help_of(binary, ["--version"]).split()[-1]
    out = [(HEAD % {"date": time.strftime("%Y-%m-%d", time.gmtime()), "version": version}).rstrip("\n")]
    # the notes of `lookalike --help` after its command list
    notes = main_help.split("Run `lookalike COMMAND --help` for a command's options.", 1)[-1]
    notes = notes.split("exit codes:", 1)[0]
    out += body(notes)
    for cmd in commands(main_help):
        out += section(binary, cmd)
    out.append(TAIL.rstrip("\n"))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
