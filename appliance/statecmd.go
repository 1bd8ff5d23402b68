package appliance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/tanjay-lab/tanjay/appliance/store"
)

// runState is `tanjay state check|repair`.
func runState(_ context.Context, e env, args []string) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintf(e.stderr, "usage: tanjay state %s\n\n%s\n", commands["state"].synopsis, commands["state"].about)
		return nil
	}
	if len(args) == 0 || (args[0] != "check" && args[0] != "repair") {
		return usagef("want a subcommand: state check [--data DIR] or state repair [--data DIR]")
	}
	sub := args[0]
	about := "Read the snapshot and every journal segment of <data>/state and report, per file, the valid records, a torn tail and each corrupt record; exit status 1 when a record is corrupt (a torn tail alone is clean: start-up cuts it). Changes nothing; safe while tanjay serve runs."
	if sub == "repair" {
		about = "Salvage <data>/state with tanjay serve stopped: skip each corrupt record and keep every valid one; rebuild a corrupt snapshot from the older state when it is still there. A copy of each file changed is kept beside it as <file>.corrupt-<UTC time>."
	}
	cfg := DefaultConfig()
	synopsis := "[--data DIR]"
	if sub == "repair" {
		synopsis = "[--data DIR] [--unconfirmed-devices N] [--timeline-kib N]"
	}
	fs := newFlagSet("state "+sub, synopsis, about, e.stderr)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data directory (the state is <data>/state)")
	if sub == "repair" {
		// A rebuilt snapshot is replayed under the state's bounds: give
		// repair the ones tanjay serve runs with, or it keeps only the
		// defaults' worth of unconfirmed devices and timeline.
		storeLimitFlags(fs, &cfg.StoreLimits)
	}
	if err := parse(fs, e, args[1:]); err != nil {
		return err
	}
	if err := cfg.StoreLimits.validate(); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("state %s takes no arguments, got %q", sub, fs.Args())
	}
	if sub == "check" {
		return stateCheck(e.stdout, cfg)
	}
	return stateRepair(e.stdout, cfg)
}

// stateCheck prints what store.Check found and fails when a file is corrupt.
func stateCheck(w io.Writer, cfg Config) error {
	rep, err := store.Check(cfg.stateDir())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "state %s:\n", rep.Dir)
	if len(rep.Files) == 0 {
		fmt.Fprintln(w, "  no snapshot and no journal segment (an appliance that never ran)")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, f := range rep.Files {
		fmt.Fprintf(tw, "  %s\t%d bytes\t%d records ok\t%s\n", f.Name, f.Size, f.Records, fileVerdict(f))
	}
	tw.Flush()
	for _, f := range rep.Files {
		for _, d := range f.Corrupt {
			fmt.Fprintf(w, "  %s: corrupt record at byte offset %d: %s; %d valid %s follow it\n",
				f.Name, d.Offset, d.Reason, d.ValidAfter, plural(d.ValidAfter, "record", "records"))
		}
	}
	if rep.Missing != "" {
		fmt.Fprintf(w, "  MISSING: %s; start-up refuses this state and repair cannot make the segment up: restore it from a backup\n", rep.Missing)
	}
	damaged := rep.Damaged()
	if rep.Missing != "" && len(damaged) == 0 {
		return fmt.Errorf("%s: %s", rep.Dir, rep.Missing)
	}
	if len(damaged) == 0 {
		fmt.Fprintln(w, "clean: tanjay serve can start on it")
		return nil
	}
	fmt.Fprintf(w, "CORRUPT: start-up refuses this state. Stop tanjay serve and run 'tanjay state repair --data %s': it keeps every valid record and a copy of each file it changes.\n", cfg.Data)
	return fmt.Errorf("%d corrupt %s in %s", len(damaged), plural(len(damaged), "file", "files"), rep.Dir)
}

// fileVerdict is one file's state in a word or a few.
func fileVerdict(f store.FileReport) string {
	var parts []string
	if f.Superseded {
		parts = append(parts, "superseded by the newest snapshot (start-up removes it unread)")
	}
	if len(f.Corrupt) > 0 {
		parts = append(parts, fmt.Sprintf("CORRUPT: %d damaged %s", len(f.Corrupt), plural(len(f.Corrupt), "stretch", "stretches")))
	}
	if f.TornTail > 0 {
		parts = append(parts, fmt.Sprintf("torn tail of %d bytes (a write a crash interrupted; start-up cuts it)", f.TornTail))
	}
	if len(parts) == 0 {
		return "ok"
	}
	return strings.Join(parts, ", ")
}

// stateRepair runs store.Repair and says what it did and what, if
// anything, was lost.
func stateRepair(w io.Writer, cfg Config) error {
	log := slog.New(slog.NewTextHandler(w, nil))
	rep, err := store.Repair(cfg.stateDir(), cfg.StoreLimits.storeOptions(store.Options{Logger: log}))
	printRepair(w, rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "the state opens: tanjay serve can start on %s\n", cfg.Data)
	return nil
}

func printRepair(w io.Writer, rep store.RepairReport) {
	if len(rep.Changed) == 0 {
		fmt.Fprintf(w, "state %s: nothing to repair\n", rep.Dir)
		return
	}
	fmt.Fprintf(w, "state %s:\n", rep.Dir)
	lost := false
	for _, f := range rep.Changed {
		switch {
		case f.Snapshot && f.RebuiltFrom != nil:
			fmt.Fprintf(w, "  %s: rebuilt from %s (%d records)\n", f.Name, strings.Join(f.RebuiltFrom, ", "), f.Kept)
		case f.Snapshot:
			fmt.Fprintf(w, "  %s: the older state it was made from is gone, so it was rewritten from its %d valid records\n", f.Name, f.Kept)
		default:
			fmt.Fprintf(w, "  %s: kept %d valid records\n", f.Name, f.Kept)
		}
		if f.TornTail > 0 {
			fmt.Fprintf(w, "    left out a torn tail of %d bytes (a write a crash interrupted)\n", f.TornTail)
		}
		for _, d := range f.Skipped {
			lost = true
			what := "unreadable bytes"
			if d.Op != "" {
				what = "what looks like a " + d.Op + " record"
			}
			fmt.Fprintf(w, "    LOST: %d bytes at offset %d, %s: %s\n", d.Length, d.Offset, what, d.Excerpt)
		}
		fmt.Fprintf(w, "    original kept as %s\n", f.Backup)
	}
	if !lost {
		fmt.Fprintln(w, "nothing was lost: every record is kept")
		return
	}
	fmt.Fprintln(w, "the records marked LOST are gone from the state: if one was an operator change (an import, an approval, a test device), check 'tanjay rules' and 'tanjay testdevice ls' once tanjay serve runs and make it again")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
