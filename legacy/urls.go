package legacy

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/tanjay-lab/tanjay/images"
)

// URLs are the four update-server URLs OCS R2 keeps in WMI
// (MSFT_SIPUpdatesServerSetting). Old Tanjay firmware uses only the internal
// two but refuses to update when the external two are empty, so all four are
// always set. Download is the check-in handler; Store is the base of the
// firmware files.
type URLs struct {
	InternalDownload string `json:"internal_download_url"`
	InternalStore    string `json:"internal_store_url"`
	ExternalDownload string `json:"external_download_url"`
	ExternalStore    string `json:"external_store_url"`
}

// DeriveURLs fills every URL the operator left empty from advertise, the
// host[:port] phones reach the appliance at, and checks the ones given. The
// external URLs are derived with the scheme the appliance serves them on
// (http until the phone-facing HTTPS listener is configured), so every
// derived URL answers.
func DeriveURLs(advertise, externalScheme string, given URLs) (URLs, error) {
	u := given
	fields := []struct {
		name, path, scheme string
		v                  *string
	}{
		{"internal-download-url", "/RequestHandler/ucdevice.upx", "http", &u.InternalDownload},
		{"internal-store-url", "/DeviceUpdateFiles_Int", "http", &u.InternalStore},
		{"external-download-url", "/RequestHandlerExt/ucdevice.upx", externalScheme, &u.ExternalDownload},
		{"external-store-url", "/DeviceUpdateFiles_Ext", externalScheme, &u.ExternalStore},
	}
	for _, f := range fields {
		if *f.v == "" {
			if err := checkAdvertise(advertise); err != nil {
				return URLs{}, fmt.Errorf("%s is not set and cannot be derived: %w", f.name, err)
			}
			*f.v = f.scheme + "://" + advertise + f.path
		}
		if err := checkURL(*f.v); err != nil {
			return URLs{}, fmt.Errorf("%s %q: %w", f.name, *f.v, err)
		}
		*f.v = strings.TrimRight(*f.v, "/")
	}
	return u, nil
}

func checkAdvertise(a string) error {
	if a == "" {
		return fmt.Errorf("no advertise address")
	}
	host := a
	if h, port, err := net.SplitHostPort(a); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("advertise address %q: port %q is not a number from 1 to 65535", a, port)
		}
		host = h
	}
	if host == "" || strings.ContainsAny(a, "/?#@ ") {
		return fmt.Errorf("advertise address %q is not host[:port]", a)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("want an absolute http:// or https:// URL")
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("want an absolute URL with a host")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("must not carry a query, fragment or user")
	}
	return nil
}

// BaseURLs are the internal and external base URLs of an image's files:
// the store URLs followed by the image's directory.
func (u URLs) BaseURLs(im images.Image) (internal, external string) {
	dir := im.Dir()
	return u.InternalStore + "/" + dir, u.ExternalStore + "/" + dir
}
