package appliance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/tanjay-lab/tanjay/appliance/store"
	"github.com/tanjay-lab/tanjay/images"
)

// clientCommand parses the flags every admin command shares plus its own,
// and returns the client and the remaining arguments.
func clientCommand(name string, e env, args []string, extra func(*flag.FlagSet)) (*apiClient, []string, error) {
	cmd := commands[name]
	fs := newFlagSet(name, cmd.synopsis, cmd.about, e.stderr)
	var cc clientConfig
	clientFlags(fs, &cc)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, e, args); err != nil {
		return nil, nil, err
	}
	c, err := newAPIClient(cc)
	if err != nil {
		return nil, nil, err
	}
	return c, fs.Args(), nil
}

func runRules(ctx context.Context, e env, args []string) error {
	c, rest, err := clientCommand("rules", e, args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("rules takes no arguments")
	}
	var rules []images.Rule
	if err := c.do(ctx, "GET", "/api/v1/rules", "", nil, &rules); err != nil {
		return err
	}
	writeRules(e.stdout, rules)
	return nil
}

// ruleAction is approve, reject or restore: each named rule in turn, or
// --all (approve and reject) on the server.
func ruleAction(action string) func(context.Context, env, []string) error {
	return func(ctx context.Context, e env, args []string) error {
		var all bool
		c, rules, err := clientCommand(action, e, args, func(fs *flag.FlagSet) {
			what := "every rule with a pending version"
			if action == "restore" {
				what = "every rule with a restore version (a fleet-wide downgrade)"
			}
			fs.BoolVar(&all, "all", false, what)
		})
		if err != nil {
			return err
		}
		switch {
		case all && len(rules) > 0:
			return usagef("name rules or give --all, not both")
		case !all && len(rules) == 0:
			return usagef("name at least one rule as `tanjay rules` prints it, e.g. UCPhone/Polycom/CX700/A/ENU/CPE")
		}
		reqs := []ruleRequest{{All: true}}
		if !all {
			reqs = reqs[:0]
			for _, r := range rules {
				if _, err := images.ParseRuleKey(r); err != nil {
					return usagef("%v", err)
				}
				reqs = append(reqs, ruleRequest{Rule: r})
			}
		}
		var failed error
		for _, req := range reqs {
			var res ruleResult
			if err := c.postJSON(ctx, "/api/v1/rules/"+action, req, &res); err != nil {
				fmt.Fprintf(e.stderr, "%s: %v\n", action, err)
				failed = errors.New("not every rule changed")
				continue
			}
			for _, r := range res.Changed {
				fmt.Fprintf(e.stdout, "%s %s: approved %s, pending %s, restore %s\n", action+"d", r.Key, ver(r.Approved), ver(r.Pending), ver(r.Restore))
			}
			if all && len(res.Changed) == 0 {
				fmt.Fprintf(e.stdout, "no rule to %s\n", action)
			}
		}
		return failed
	}
}

func runTestDevice(ctx context.Context, e env, args []string) error {
	c, rest, err := clientCommand("testdevice", e, args, nil)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("want add MAC|SERIAL, rm MAC|SERIAL or ls")
	}
	switch verb := rest[0]; {
	case verb == "ls" && len(rest) == 1:
		var tds []store.TestDevice
		if err := c.do(ctx, "GET", "/api/v1/testdevices", "", nil, &tds); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tADDED")
		for _, td := range tds {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", td.ID, td.Kind, td.Added.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case verb == "add" && len(rest) == 2:
		var td testDeviceAdded
		if err := c.postJSON(ctx, "/api/v1/testdevices", testDeviceRequest{ID: rest[1]}, &td); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "test device %s (%s) added: it now gets Pending versions\n", td.ID, td.Kind)
		if td.Warning != "" {
			fmt.Fprintf(e.stderr, "warning: %s\n", td.Warning)
		}
		return nil
	case (verb == "rm" || verb == "remove") && len(rest) == 2:
		var td store.TestDevice
		if err := c.do(ctx, "DELETE", "/api/v1/testdevices/"+url.PathEscape(rest[1]), "", nil, &td); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "test device %s removed: it gets Approved versions again\n", td.ID)
		return nil
	}
	return usagef("want add MAC|SERIAL, rm MAC|SERIAL or ls")
}

func runDevices(ctx context.Context, e env, args []string) error {
	c, rest, err := clientCommand("devices", e, args, nil)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("devices takes no arguments")
	}
	var devices []store.Device
	if err := c.do(ctx, "GET", "/api/v1/devices", "", nil, &devices); err != nil {
		return err
	}
	writeDevices(e.stdout, devices, time.Now())
	return nil
}

// runPending is `tanjay pending RULE VERSION`: an image the appliance
// already has becomes the rule's Pending version again — after a Restore,
// the way back without importing the files again; approve it next.
func runPending(ctx context.Context, e env, args []string) error {
	c, rest, err := clientCommand("pending", e, args, nil)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usagef("want a rule as `tanjay rules` prints it and an imported version, e.g. tanjay pending UCPhone/Polycom/CX700/A/ENU/CPE 4.0.7577.4066")
	}
	if _, err := images.ParseRuleKey(rest[0]); err != nil {
		return usagef("%v", err)
	}
	if _, err := images.ParseVersion(rest[1]); err != nil {
		return usagef("version %q: %v", rest[1], err)
	}
	var res ruleResult
	if err := c.postJSON(ctx, "/api/v1/rules/pending", ruleRequest{Rule: rest[0], Version: rest[1]}, &res); err != nil {
		return err
	}
	for _, r := range res.Changed {
		fmt.Fprintf(e.stdout, "pending %s: approved %s, pending %s, restore %s (test devices take it now; `approve` to give it to every phone)\n",
			r.Key, ver(r.Approved), ver(r.Pending), ver(r.Restore))
	}
	return nil
}
