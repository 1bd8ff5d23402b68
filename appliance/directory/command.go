package directory

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// stderrTail is how much of a failing command's output an error carries.
const stderrTail = 8

// run runs one of Samba's tools to completion, with stdin when not nil,
// and returns its standard output. A failure names the command (secrets
// replaced by "…") and carries the last lines it printed.
func run(ctx context.Context, stdin []byte, secrets []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	// Messages in English, whatever the operator's locale: errors quote
	// them.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := lastLines(stderr.String()+stdout.String(), stderrTail)
		for _, s := range secrets {
			if s != "" {
				tail = strings.ReplaceAll(tail, s, "…")
			}
		}
		return nil, fmt.Errorf("%s: %w\n%s", redact(name, args, secrets), err, tail)
	}
	return stdout.Bytes(), nil
}

// redact is the command line with every secret replaced by "…".
func redact(name string, args []string, secrets []string) string {
	line := name + " " + strings.Join(args, " ")
	for _, s := range secrets {
		if s != "" {
			line = strings.ReplaceAll(line, s, "…")
		}
	}
	return line
}

// lastLines is the last n non-empty lines of s, indented.
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \r\t"); l != "" {
			lines = append(lines, "    "+l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
