package appliance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// Version is the appliance's version, set at build time with
// -ldflags "-X github.com/tanjay-lab/tanjay/appliance.Version=…".
var Version = "dev"

// env is how a command reads its environment; tests replace it.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	synopsis string
	about    string
	run      func(ctx context.Context, e env, args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"serve":      {"[flags]", "Run the appliance: phone-facing HTTP and HTTPS, DNS, optional DHCP, the dashboard and admin API.", runServe},
		"demo":       {"[flags]", "Run the appliance on loopback with synthetic firmware and a simulated fleet walking the whole upgrade chain.", runDemo},
		"phone":      {"[flags]", "Simulate one phone or a fleet (--count) against any update server and print the path each walked.", runPhone},
		"bench":      {"[flags]", "Benchmark tanjay serve against a fixed-answer net/http baseline, both on loopback, in alternating rounds; print the ratios.", runBench},
		"import":     {"--device-path PATH --version V [--interim] [--min-from V] CPE.nbt [CPE.cat]", "Import a firmware image into a running appliance; it becomes the rule's Pending version.", runImport},
		"rules":      {"[flags]", "List the rules with their Approved, Pending and Restore versions.", runRules},
		"approve":    {"RULE… | --all", "Make each rule's Pending version Approved (the old Approved becomes Restore).", ruleAction("approve")},
		"reject":     {"RULE… | --all", "Clear each rule's Pending version; test devices go back to Approved.", ruleAction("reject")},
		"restore":    {"RULE… | --all, or --data DIR [--force] BACKUP.tar.gz", "Put each rule's Restore version back as Approved (phones above it are then offered the lower version); given a backup file, restore a data directory from it instead.", runRestore},
		"pending":    {"RULE VERSION", "Make a version the appliance already has the rule's Pending one again (after a Restore, to undo it), without importing the files again.", runPending},
		"testdevice": {"add|rm|ls [MAC|SERIAL]", "Name the phones that get Pending versions, by MAC or serial number.", runTestDevice},
		"devices":    {"[flags]", "List the phones the appliance has seen, with their stage and versions.", runDevices},
		"directory":  {"provision|run [flags]", "Provision the lab's domain controller (Samba AD DC) that beta phones read the appliance CA from, or run it as its own service; root.", runDirectory},
		"backup":     {"[--server URL | --data DIR] [-o FILE] [--no-logs]", "Write one verified archive of the data directory (firmware, state, secrets, logs), from a running appliance's admin API or, stopped, from its data directory.", runBackup},
		"state":      {"check|repair [--data DIR] [serve's --unconfirmed-devices, --timeline-kib]", "Check the state (snapshot and journal) for corrupt records, or repair it keeping every valid record; repair needs tanjay serve stopped.", runState},
		"version":    {"", "Print the version.", runVersion},
	}
}

// Main runs the tanjay command line and returns the process exit code:
// 0 on success, 2 for usage errors, 1 for everything else. It never panics
// on bad input and logs each error once.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, env{stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "tanjay: unknown command %q\n\n", args[0])
		usage(e.stderr)
		return 2
	}
	err := cmd.run(ctx, e, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(e.stderr, "tanjay %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "tanjay %s: %v\n", args[0], err)
		return 1
	}
}

// usageError marks a wrong command line (exit code 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func usage(w io.Writer) {
	fmt.Fprintf(w, "tanjay %s: upgrade OCS 2007-era IP phones on an isolated lab network.\n\nusage: tanjay COMMAND [flags]\n\ncommands:\n", Version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].about)
	}
	fmt.Fprintf(w, "\nRun 'tanjay COMMAND --help' for a command's flags. Every flag is also read from TANJAY_<FLAG_NAME>.\n")
}

// parse parses a subcommand's flags; a parse error is a usage error.
func parse(fs *flag.FlagSet, e env, args []string) error {
	err := parseFlags(fs, args, e.getenv)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return usageError{err.Error()}
	}
	return err
}

func runVersion(_ context.Context, e env, args []string) error {
	fs := newFlagSet("version", commands["version"].synopsis, commands["version"].about, e.stderr)
	if err := parse(fs, e, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "tanjay %s\n", Version)
	return nil
}
