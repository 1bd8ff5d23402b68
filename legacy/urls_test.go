package legacy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDeriveURLsWithHTTPS(t *testing.T) {
	got, err := DeriveURLs("http://127.0.0.1:8081", "https://127.0.0.1:8443", URLs{})
	if err != nil {
		t.Fatal(err)
	}
	want := URLs{
		InternalDownload: "http://127.0.0.1:8081/RequestHandler/ucdevice.upx",
		InternalStore:    "http://127.0.0.1:8081/DeviceUpdateFiles_Int",
		ExternalDownload: "https://127.0.0.1:8443/RequestHandlerExt/ucdevice.upx",
		ExternalStore:    "https://127.0.0.1:8443/DeviceUpdateFiles_Ext",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDeriveURLs(t *testing.T) {
	tests := []struct {
		name      string
		advertise string
		given     URLs
		want      URLs
		wantErr   string
	}{
		{name: "all derived", advertise: "192.0.2.10", want: URLs{
			InternalDownload: "http://192.0.2.10/RequestHandler/ucdevice.upx",
			InternalStore:    "http://192.0.2.10/DeviceUpdateFiles_Int",
			ExternalDownload: "http://192.0.2.10/RequestHandlerExt/ucdevice.upx",
			ExternalStore:    "http://192.0.2.10/DeviceUpdateFiles_Ext",
		}},
		{name: "port kept", advertise: "127.0.0.1:8081", want: URLs{
			InternalDownload: "http://127.0.0.1:8081/RequestHandler/ucdevice.upx",
			InternalStore:    "http://127.0.0.1:8081/DeviceUpdateFiles_Int",
			ExternalDownload: "http://127.0.0.1:8081/RequestHandlerExt/ucdevice.upx",
			ExternalStore:    "http://127.0.0.1:8081/DeviceUpdateFiles_Ext",
		}},
		{name: "operator's URLs win, trailing slash trimmed", advertise: "192.0.2.10",
			given: URLs{ExternalStore: "https://updates.example.com/DeviceUpdateFiles_Ext/"},
			want: URLs{
				InternalDownload: "http://192.0.2.10/RequestHandler/ucdevice.upx",
				InternalStore:    "http://192.0.2.10/DeviceUpdateFiles_Int",
				ExternalDownload: "http://192.0.2.10/RequestHandlerExt/ucdevice.upx",
				ExternalStore:    "https://updates.example.com/DeviceUpdateFiles_Ext",
			}},
		{name: "all given, no advertise needed", given: URLs{
			InternalDownload: "http://a/x", InternalStore: "http://a/y", ExternalDownload: "https://b/x", ExternalStore: "https://b/y"},
			want: URLs{InternalDownload: "http://a/x", InternalStore: "http://a/y", ExternalDownload: "https://b/x", ExternalStore: "https://b/y"}},
		{name: "relative URL refused", advertise: "192.0.2.10", given: URLs{InternalStore: "/DeviceUpdateFiles_Int"}, wantErr: `internal-store-url "/DeviceUpdateFiles_Int"`},
		{name: "ftp refused", advertise: "192.0.2.10", given: URLs{ExternalStore: "ftp://x/y"}, wantErr: "external-store-url"},
		{name: "no advertise", wantErr: "internal-download-url is not set and cannot be derived"},
		{name: "advertise with path", advertise: "192.0.2.10/x", wantErr: "not host[:port]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DeriveURLs(BaseURL("http", tt.advertise), "", tt.given)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
