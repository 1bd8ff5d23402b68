package appliance

import (
	"context"
	"strings"
	"testing"
)

// TestRuleWorkflow follows PROTOCOL.md §3: Pending goes only to test devices
// (named by MAC or serial), Approve promotes it, Reject sends test devices
// back to Approved, Restore brings back the older version — the only way a
// phone is offered a lower version than it runs.
func TestRuleWorkflow(t *testing.T) {
	ta := startApp(t, nil)
	const rule = "UCPhone/Polycom/CX700/A/ENU/CPE"
	const (
		plainMAC  = "00049F000001"
		testMAC   = "00049F000002"
		serialDev = "00049F000003"
		serial    = "SN-TEST-7"
	)
	offer := func(mac, sn, version string) string {
		t.Helper()
		v, _ := checkIn(t, ta.HTTP, "CX700", mac, sn, version)
		return v
	}
	expect := func(step, mac, sn, version, want string) {
		t.Helper()
		if got := offer(mac, sn, version); got != want {
			t.Errorf("%s: phone %s/%s at %s offered %q, want %q", step, mac, sn, version, got, want)
		}
	}
	addTest := func(id string) {
		t.Helper()
		if err := ta.api.postJSON(context.Background(), "/api/v1/testdevices", testDeviceRequest{ID: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	addTest("00-04-9f-00-00-02") // by MAC, any separators
	addTest(serial)              // by serial

	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", false, randomBytes(1000, 1))
	expect("pending", plainMAC, "", "1.0.522.103", "")
	expect("pending", testMAC, "", "1.0.522.103", "3.5.6907.0")
	expect("pending", serialDev, serial, "1.0.522.103", "3.5.6907.0")

	if err := ta.ruleAction(t, "approve", rule); err != nil {
		t.Fatal(err)
	}
	expect("approved", plainMAC, "", "1.0.522.103", "3.5.6907.0")

	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "4.0.7577.4066", false, randomBytes(1000, 2))
	expect("second pending", plainMAC, "", "3.5.6907.0", "")
	expect("second pending", testMAC, "", "3.5.6907.0", "4.0.7577.4066")
	if err := ta.ruleAction(t, "reject", rule); err != nil {
		t.Fatal(err)
	}
	expect("rejected", testMAC, "", "3.5.6907.0", "")
	if err := ta.ruleAction(t, "reject", rule); err == nil || !strings.Contains(err.Error(), "no pending version") {
		t.Errorf("second reject: %v, want 'no pending version'", err)
	}

	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "4.0.7577.4066", false, randomBytes(1000, 2))
	if err := ta.ruleAction(t, "approve", rule); err != nil {
		t.Fatal(err)
	}
	expect("approved 4.0", plainMAC, "", "3.5.6907.0", "4.0.7577.4066")
	expect("no silent downgrade", plainMAC, "", "4.0.7577.4100", "")
	expect("at target", plainMAC, "", "4.0.7577.4066", "")

	if err := ta.ruleAction(t, "restore", rule); err != nil {
		t.Fatal(err)
	}
	expect("restored: downgrade", plainMAC, "", "4.0.7577.4066", "3.5.6907.0")
	expect("restored: at target", plainMAC, "", "3.5.6907.0", "")
	if err := ta.ruleAction(t, "restore", rule); err == nil || !strings.Contains(err.Error(), "no version to restore") {
		t.Errorf("second restore: %v", err)
	}

	if err := ta.api.do(context.Background(), "DELETE", "/api/v1/testdevices/"+serial, "", nil, nil); err != nil {
		t.Fatal(err)
	}
	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "4.0.7577.4100", false, randomBytes(1000, 3))
	expect("removed test device", serialDev, serial, "3.5.6907.0", "")
	expect("remaining test device", testMAC, "", "3.5.6907.0", "4.0.7577.4100")
}

// TestOfferedURLsAreNeverEmpty checks the four URL flags reach the response.
func TestOfferedURLsAreNeverEmpty(t *testing.T) {
	ta := startApp(t, func(c *Config) {
		c.URLs.ExternalStore = "https://updates.example.com/DeviceUpdateFiles_Ext"
	})
	ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", "3.5.6907.0", false, randomBytes(1000, 1))
	if err := ta.ruleAction(t, "approve", "UCPhone/Polycom/CX700/A/ENU/CPE"); err != nil {
		t.Fatal(err)
	}
	_, resp := checkIn(t, ta.HTTP, "CX700", "00049F000009", "", "1.0.522.103")
	for _, want := range []string{
		"<BaseURL>http://" + ta.HTTP + "/DeviceUpdateFiles_Int/UCPhone/Polycom/CX700/A/ENU/3.5.6907.0/CPE</BaseURL>",
		"<ExternalBaseURL>https://updates.example.com/DeviceUpdateFiles_Ext/UCPhone/Polycom/CX700/A/ENU/3.5.6907.0/CPE</ExternalBaseURL>",
	} {
		if !strings.Contains(resp, want) {
			t.Errorf("response lacks %s:\n%s", want, resp)
		}
	}
	if strings.Contains(resp, "<BaseURL></BaseURL>") || strings.Contains(resp, "<ExternalBaseURL></ExternalBaseURL>") {
		t.Errorf("an empty URL was sent:\n%s", resp)
	}
}

// TestRuleActionsAll: --all approves or rejects every rule with a Pending
// version, and restores every rule with a Restore version.
func TestRuleActionsAll(t *testing.T) {
	ta := startApp(t, nil)
	for _, v := range []string{"3.5.6907.0", "4.0.7577.4066"} {
		ta.importBytes(t, "UCPhone/Polycom/CX700/A/ENU", v, false, randomBytes(100, 1))
		ta.importBytes(t, "UCPhone/LG-Nortel/IP8540/A/ENU", v, false, randomBytes(100, 2))
		var res ruleResult
		if err := ta.api.postJSON(context.Background(), "/api/v1/rules/approve", ruleRequest{All: true}, &res); err != nil || len(res.Changed) != 2 {
			t.Fatalf("approve --all: %v, changed %d", err, len(res.Changed))
		}
	}
	var res ruleResult
	if err := ta.api.postJSON(context.Background(), "/api/v1/rules/restore", ruleRequest{All: true}, &res); err != nil || len(res.Changed) != 2 {
		t.Fatalf("restore --all: %v, changed %d", err, len(res.Changed))
	}
	for _, r := range res.Changed {
		if r.Approved.String() != "3.5.6907.0" || !r.Restored {
			t.Errorf("after restore --all: %+v", r)
		}
	}
	if err := ta.api.postJSON(context.Background(), "/api/v1/rules/reject", ruleRequest{All: true}, &res); err != nil || len(res.Changed) != 0 {
		t.Errorf("reject --all with nothing pending: %v, changed %d", err, len(res.Changed))
	}
}
