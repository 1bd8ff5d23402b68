package sip

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRenderProvisioning keeps every provisioning body a phone can get in
// a golden file: when a capture of a real OCS answer shows the shape, one
// file changes and the diff says how.
func TestRenderProvisioning(t *testing.T) {
	urls := UpdateURLs{
		Internal: "http://10.77.0.1/RequestHandler/ucdevice.upx",
		External: "https://10.77.0.1/RequestHandlerExt/ucdevice.upx?a=1&b=<2>",
	}
	for _, variant := range Variants {
		t.Run(variant, func(t *testing.T) {
			got := renderProvisioning([]string{"ServerConfiguration", "meetingPolicy", "ucPolicy"}, urls, variant)
			golden(t, filepath.Join("testdata", "provisioning-"+variant+".xml"), got)
			back, err := parseUpdateURLs(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(urls, back); diff != "" {
				t.Errorf("URLs read back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestedGroups(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		want   []string
		wantOK bool
	}{
		{"none", "", nil, true},
		{"MS-SIPREGE", `<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist"><provisioningGroup name="ServerConfiguration"/><provisioningGroup name="meetingPolicy"/></provisioningGroupList>`, []string{"ServerConfiguration", "meetingPolicy"}, true},
		{"other case, prefix, duplicate", `<p:list xmlns:p="x"><p:PROVISIONINGGROUP name="ucPolicy"/><p:provisioningGroup name="ucPolicy"/></p:list>`, []string{"ucPolicy"}, true},
		{"not XML", `<<<`, nil, false},
		{"no group", `<provisioningGroupList/>`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := requestedGroups([]byte(tt.body))
			if ok != tt.wantOK || !cmp.Equal(got, tt.want) {
				t.Errorf("requestedGroups = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
