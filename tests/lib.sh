# tests/lib.sh — helpers shared by the shell suites (sourced, not run).
# jqe [jq args] FILTER FILE: jq -e on FILE; a forgotten or empty FILE fails (jq would pass on an
# empty stdin), except with -n (no input).
jqe() { case " $* " in *" -n "*) ;; *) [ -s "${!#}" ] || return 1 ;; esac; jq -e "$@" >/dev/null 2>&1 </dev/null; }
