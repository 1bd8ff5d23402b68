// Command sipe-signin signs pidgin-sipe, the independent OCS client, in to
// a SIP server with the sipetest harness, for checks written in shell (the
// VM stage, appliance/vm/test): it prints "signed in" and exits 0, or
// prints bitlbee's reason and transcript and exits 1.
//
//	SIPE_PASSWORD=… sipe-signin -server 10.77.0.1:5061 -transport tls \
//	    -ca ca.cer -sign-in tech@lab.local -login 'LAB\tech'
//
// The password comes from the environment, never the command line (other
// users can read a process's arguments). With -transport tls the client
// trusts only the CA in -ca (DER or PEM), in a private mount namespace
// (sipetest.TLSAvailable says what that needs).
package main

import (
	"context"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/tanjay-lab/tanjay/legacy/sip/sipetest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sipe-signin:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("sipe-signin", flag.ContinueOnError)
	var (
		acct    sipetest.Account
		caFile  string
		timeout time.Duration
	)
	fs.StringVar(&acct.Server, "server", "", "the SIP server, host:port")
	fs.StringVar(&acct.Transport, "transport", "tls", "tcp or tls")
	fs.StringVar(&caFile, "ca", "", "with tls: the only CA the client trusts (DER or PEM)")
	fs.StringVar(&acct.SignIn, "sign-in", "", "the sign-in address, user@domain")
	fs.StringVar(&acct.Login, "login", "", `the optional DOMAIN\user`)
	fs.DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the sign-in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	acct.Password = os.Getenv("SIPE_PASSWORD")
	if acct.Password == "" {
		return errors.New("SIPE_PASSWORD is not set (the password is never taken from the command line)")
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		if blk, _ := pem.Decode(b); blk == nil {
			b = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b})
		}
		acct.CAPEM = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := sipetest.Start(ctx, "", acct)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.WaitLoggedIn(ctx); err != nil {
		return fmt.Errorf("%w\n--- transcript ---\n%s", err, c.Transcript())
	}
	fmt.Printf("signed in as %s to %s over %s\n", acct.SignIn, acct.Server, acct.Transport)
	return nil
}
